import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

const REQUEST_ID = /^[\w.:-]{1,128}$/;
const extraFields = new WeakMap<FastifyRequest, Record<string, unknown>>();

/** The request id: the caller's X-Request-Id when it is sane, otherwise a new one (Fastify's genReqId). */
export function requestIdOf(req: IncomingMessage): string {
  const sent = req.headers['x-request-id'];
  return typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
}

/** Adds fields (e.g. the issuance outcome) to this request's one log line. */
export function addRequestLogFields(
  request: FastifyRequest,
  fields: Record<string, unknown>,
): void {
  extraFields.set(request, { ...extraFields.get(request), ...fields });
}

/**
 * The one JSON line per request: method, route, status, latency and the request id (a binding of
 * request.log), plus whatever the handler added. Never bodies or headers: they carry personal data and keys.
 */
export function logCompletedRequest(request: FastifyRequest, reply: FastifyReply): void {
  const status = reply.statusCode;
  const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
  request.log[level](
    {
      // Flat fields: Fastify's logger serializes `req`/`res` keys its own way.
      method: request.method,
      url: request.url,
      route: request.routeOptions.url,
      statusCode: status,
      latencyMs: Math.round(reply.elapsedTime * 10) / 10,
      ...extraFields.get(request),
    },
    'request completed',
  );
}
