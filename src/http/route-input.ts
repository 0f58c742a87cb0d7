import { ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type * as Joi from 'joi';
import type { RouteFlags } from '../common/route-flags';
import { validate, withKoreanMessages } from '../common/validation';

/** The joi schemas of a Nest route's input (compiled with the Korean messages by routeInput). */
export interface RouteInput {
  params?: Joi.Schema;
  body?: Joi.Schema;
}

/** A route's input schemas, compiled once (the `input` of its route flags). */
export function routeInput(schemas: RouteInput): RouteInput {
  return {
    params: schemas.params && withKoreanMessages(schemas.params),
    body: schemas.body && withKoreanMessages(schemas.body),
  };
}

const validated = new WeakMap<FastifyRequest, { params?: unknown; body?: unknown }>();

/**
 * Validation, as a step of every route's pipeline (app.setup.ts): after the throttles and the credentials,
 * before the Idempotency-Key — so an invalid request is a 400 whatever its key, decided without the database,
 * on both kinds of route. A route Fastify serves itself has its JSON schema checked by Fastify, which
 * attaches the error to the request; a Nest route declares joi schemas in its route flags (`input`) and its
 * handler takes the values with @ValidInput(). The path before the body.
 */
export function validateInput(request: FastifyRequest, flags: RouteFlags): void {
  if (request.validationError) throw request.validationError;
  const { input } = flags;
  if (!input) return;
  validated.set(request, {
    params: input.params && validate(input.params, request.params),
    body: input.body && validate(input.body, request.body),
  });
}

/** The validated `params` or `body` of a Nest route that declares its `input`. */
export const ValidInput = createParamDecorator(
  (part: 'params' | 'body', context: ExecutionContext): unknown =>
    validated.get(context.switchToHttp().getRequest<FastifyRequest>())?.[part],
);
