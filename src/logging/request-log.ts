import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { routeFlagsOf, routePatternOf } from '../common/route-flags';

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
  const added = extraFields.get(request);
  // (Most requests add once: their fields are kept as given, not copied.)
  extraFields.set(request, added ? { ...added, ...fields } : fields);
}

/** Statuses that say the service is shedding or refusing callers: worth an operator's look. */
const WARN_STATUSES = new Set([401, 403, 429]);

/**
 * Probes and scrapes (every few seconds from every orchestrator, balancer and Prometheus): debug when they
 * pass, warn when they fail — a 503 from readiness is a state (starting, shutting down, database away),
 * not a fault. Other requests — error: the service failed (5xx). warn: it shed or refused a caller (401,
 * 403, 429). info: everything
 * else, including business refusals (sold out, today's cap, outside the period, unknown event) and bad
 * input, which are ordinary answers in a drop (tens of thousands a surge).
 */
function levelOf(status: number, operational: boolean): 'error' | 'warn' | 'info' | 'debug' {
  if (operational) return status < 400 ? 'debug' : 'warn';
  return status >= 500 ? 'error' : WARN_STATUSES.has(status) ? 'warn' : 'info';
}

/** A line about one request, with its id (request.log is the root logger: it binds nothing). */
export function logForRequest(
  request: FastifyRequest,
  level: 'error' | 'warn' | 'info' | 'debug',
  fields: Record<string, unknown>,
  message: string,
): void {
  request.log[level]({ requestId: request.id, ...fields }, message);
}

/**
 * Which requests get their line (LOG_REQUESTS): `all`; `errors`, only the lines at warn and error (callers
 * refused or shed, failures); `sampled`, those and one in SAMPLED_ONE_IN of the info lines, each marked
 * with it (debug lines, the probes', are left to LOG_LEVEL).
 * A drop's tens of thousands of sold-out answers are `info` lines: the modes trade them for CPU.
 */
export type RequestLogMode = 'all' | 'errors' | 'sampled';

export const SAMPLED_ONE_IN = 100;

/**
 * The one JSON line per request: method, route, status, latency and the request id, plus whatever the
 * handler added. Never bodies or headers: they carry personal data and keys.
 */
export function requestLogger(
  mode: RequestLogMode,
): (request: FastifyRequest, reply: FastifyReply) => void {
  let ordinary = 0;
  return (request, reply) => {
    const status = reply.statusCode;
    const level = levelOf(status, routeFlagsOf(request).operational === true);
    if (mode === 'errors' && (level === 'info' || level === 'debug')) return;
    const sampled = mode === 'sampled' && level === 'info';
    if (sampled && ordinary++ % SAMPLED_ONE_IN !== 0) return;
    const fields: Record<string, unknown> = {
      requestId: request.id,
      // Flat fields: Fastify's logger serializes `req`/`res` keys its own way.
      method: request.method,
      url: request.url,
      route: routePatternOf(request),
      statusCode: status,
      latencyMs: Math.round(reply.elapsedTime * 10) / 10,
      ...extraFields.get(request),
    };
    if (sampled) fields.sampledOneIn = SAMPLED_ONE_IN;
    request.log[level](fields, 'request completed');
  };
}
