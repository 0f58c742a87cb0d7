import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteFlags } from '../common/route-flags';
import { compileRequestSchema, schemaValidationError } from '../common/validation';
import type { RouteDoc } from '../openapi/api-docs';

/**
 * A route Fastify serves itself, registered on the Nest application's own Fastify instance: the hot path,
 * where Nest's router layers (route proxy, execution context, pipes, parameter decorators) cost more than
 * the work. It runs the same pipeline as every route — the hooks of app.setup.ts are Fastify's (request
 * id, throttles, tokens, Idempotency-Key, log line, metrics) and a thrown error goes through the same
 * exception filter — and its handler calls the same Nest-provided services. Its schema, compiled once, is
 * the single source of its validation, its 400 messages and its OpenAPI operation (openapi.ts).
 */
export interface FastifyRoute<Params = unknown, Body = unknown> {
  method: 'GET' | 'POST' | 'PATCH';
  /** Fastify's path syntax: `/events/:eventKey/tickets`. */
  url: string;
  schema: { params?: SchemaObject; body?: SchemaObject };
  flags: RouteFlags;
  doc: RouteDoc;
  /** Called with valid input only; resolves to the body sent (its status and headers set on `reply`). */
  handle(
    request: FastifyRequest<{ Params: Params; Body: Body }>,
    reply: FastifyReply,
  ): Promise<string>;
}

export function registerFastifyRoute<Params, Body>(
  fastify: FastifyInstance,
  route: FastifyRoute<Params, Body>,
): void {
  fastify.route<{ Params: Params; Body: Body }>({
    method: route.method,
    url: route.url,
    schema: route.schema,
    config: route.flags,
    validatorCompiler: ({ schema }) => compileRequestSchema(schema),
    schemaErrorFormatter: schemaValidationError,
    // Refused by the pipeline's validation step (http/route-input.ts), after the throttles and the token
    // and before the Idempotency-Key, as every route's input is.
    attachValidation: true,
    handler: (request, reply) => route.handle(request, reply),
  });
}
