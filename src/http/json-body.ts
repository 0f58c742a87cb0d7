import type { FastifyInstance } from 'fastify';
import { InvalidInputError } from '../common/errors/domain-errors';

/** No request of this API nests deeper than 2; 32 leaves room and keeps every walk over a body shallow. */
export const MAX_BODY_DEPTH = 32;

/** True when `value` nests objects or arrays deeper than `limit` (iterative: safe at any depth). */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * The only body this API takes is JSON: every other content type (form-encoded, text/plain, XML, multipart,
 * none at all with a body) is a 415 from Fastify, one message (error-response.ts), on every route. The JSON
 * parser is Fastify's (with its prototype-poisoning protection), refusing bodies nested deeper than
 * MAX_BODY_DEPTH with a 400 before anything (validation, the Idempotency-Key fingerprint) walks them.
 */
export function useJsonBodiesOnly(fastify: FastifyInstance): void {
  const parse = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, text, done) =>
    parse(request, text as string, (error, body) => {
      if (error) return done(error, undefined);
      if (nestsDeeperThan(body, MAX_BODY_DEPTH)) {
        return done(
          new InvalidInputError(`요청 본문의 중첩이 너무 깊습니다. (최대 ${MAX_BODY_DEPTH}단계)`),
          undefined,
        );
      }
      done(null, body);
    }),
  );
}
