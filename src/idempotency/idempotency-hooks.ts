import { ExecutionContext, Injectable, Logger, createParamDecorator } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IdempotencyClaim } from './idempotency-claim';
import { IdempotencyService } from './idempotency.service';

const claims = new WeakMap<FastifyRequest, IdempotencyClaim>();

/** The claim of this request's Idempotency-Key, for use cases that store their answer in their own transaction. */
export const IdempotencyClaimOf = createParamDecorator(
  (_: unknown, context: ExecutionContext): IdempotencyClaim | undefined =>
    claims.get(context.switchToHttp().getRequest<FastifyRequest>()),
);

/** Headers of an answer that are part of it and so replayed with it. */
const REPLAYED_HEADERS = ['content-type', 'retry-after'];

/**
 * The Idempotency-Key header on every POST and PATCH, as two Fastify hooks (wired in app.setup.ts):
 * - preHandler: claim the key, or replay the stored answer (with `Idempotent-Replayed: true`), or refuse
 *   (400 malformed, 422 reused for another request, 409 still in flight);
 * - onSend: keep the answer exactly as it goes out, unless the use case already stored it in its own
 *   transaction; a 5xx is not kept, the claim is released so a retry runs afresh.
 */
@Injectable()
export class IdempotencyHooks {
  private readonly logger = new Logger(IdempotencyHooks.name);

  constructor(private readonly idempotency: IdempotencyService) {}

  /** Resolves to the reply when it answered (a replay), which ends the request there. */
  async preHandler(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    if (request.method !== 'POST' && request.method !== 'PATCH') return undefined;
    const key = this.idempotency.parseKey(request.headers['idempotency-key']);
    if (key === undefined) return undefined;
    const outcome = await this.idempotency.begin(key, request.method, request.url, request.body);
    if (outcome.kind === 'proceed') {
      claims.set(request, outcome.claim);
      return undefined;
    }
    const { status, headers, body } = outcome.response;
    return reply.status(status).headers(headers).header('idempotent-replayed', 'true').send(body);
  }

  async onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const claim = claims.get(request);
    if (!claim || claim.stored) return payload;
    claims.delete(request);
    try {
      if (reply.statusCode >= 500) {
        await this.idempotency.release(claim);
      } else {
        await this.idempotency.complete(claim, {
          status: reply.statusCode,
          body: typeof payload === 'string' ? payload : '',
          headers: replayedHeaders(reply),
        });
      }
    } catch (error) {
      // The answer still goes out; the claim times out and a retry takes it over.
      this.logger.warn({ err: error, key: claim.key }, 'idempotent answer not stored');
    }
    return payload;
  }
}

function replayedHeaders(reply: FastifyReply): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = reply.getHeader(name);
    if (value !== undefined) headers[name] = String(value);
  }
  return headers;
}
