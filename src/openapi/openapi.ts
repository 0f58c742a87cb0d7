import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyRoute } from '../http/fastify-route';
import { operationOf } from './api-docs';

/**
 * OpenAPI 3 from the code — Nest's controllers and the routes Fastify serves itself: Swagger UI at /docs
 * (unless turned off), the document at /docs-json.
 */
export function setUpOpenApi(
  app: NestFastifyApplication,
  ui: boolean,
  fastifyRoutes: FastifyRoute[],
): void {
  const config = new DocumentBuilder()
    .setTitle('Golden Ticket')
    .setDescription(
      'First-come-first-served golden tickets. Errors are always { statusCode, message } with a Korean ' +
        'message; timestamps out are UTC with whole seconds and a Z. See README.md for the rules.',
    )
    .setVersion('1.0.0')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'opaque',
        description: 'ADMIN_TOKEN (required in production)',
      },
      'adminBearer',
    )
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description:
          'The end user’s JWT from the identity provider (HS256, RS256 or ES256), whose `sub` is the ' +
          'userId asked for; required when USER_JWT_SECRET or USER_JWKS_URL is set',
      },
      'userJwt',
    )
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'opaque',
        description: 'METRICS_TOKEN, when set',
      },
      'metricsBearer',
    )
    .build();
  const document = SwaggerModule.createDocument(app, config);
  for (const route of fastifyRoutes) {
    const { path, method, operation } = operationOf(route);
    document.paths[path] = { ...document.paths[path], [method]: operation };
  }
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    swaggerUiEnabled: ui,
  });
}
