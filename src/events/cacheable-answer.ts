import type { FastifyReply, FastifyRequest } from 'fastify';
import { CachedAnswer, VIEW_FRESHNESS_MS } from './event-views.cache';

/** Any cache may keep an event's view as long as this service itself promises it fresh. */
const PUBLIC_FOR_FRESHNESS = `public, max-age=${VIEW_FRESHNESS_MS / 1000}`;

/**
 * Sends an event view with its caching headers: 304 without a body when the client already holds these
 * bytes (If-None-Match), the bytes otherwise.
 */
export function sendCacheable(
  request: FastifyRequest,
  reply: FastifyReply,
  answer: CachedAnswer,
): string | undefined {
  void reply.header('cache-control', PUBLIC_FOR_FRESHNESS).header('etag', answer.etag);
  if (holdsAlready(request.headers['if-none-match'], answer.etag)) {
    void reply.status(304);
    return undefined;
  }
  void reply.type('application/json; charset=utf-8');
  return answer.body;
}

/** If-None-Match compares weakly (RFC 9110, 13.1.2): a `W/` prefix is ignored, and `*` matches any answer. */
function holdsAlready(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || (tag.startsWith('W/') ? tag.slice(2) : tag) === etag;
  });
}
