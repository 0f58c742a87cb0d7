import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** OpenAPI 3 from the code: Swagger UI at /docs (unless turned off), the document at /docs-json. */
export function setUpOpenApi(app: NestFastifyApplication, ui: boolean): void {
  const config = new DocumentBuilder()
    .setTitle('Golden Ticket')
    .setDescription(
      'First-come-first-served golden tickets. Errors are always { statusCode, message } with a Korean ' +
        'message; timestamps out are UTC with whole seconds and a Z. See README.md for the rules.',
    )
    .setVersion('1.0.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN, when it is set' })
    .build();
  const document = SwaggerModule.createDocument(app, config);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    swaggerUiEnabled: ui,
  });
}
