import { ExecutionContext, Injectable, createParamDecorator } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { routeFlagsOf, routePatternOf } from '../common/route-flags';
import type { IdempotencyClaim, StoredResponse } from './idempotency-claim';
import { verifiedUserOf } from '../auth/user-auth';
import {
  IdempotentRequest,
  fingerprintOf,
  parseIdempotencyKey,
  scopedKey,
} from './idempotency-rules';
import {
  DomainError,
  IdempotencyKeyInFlightError,
  IdempotencyKeyReusedError,
  ServiceUnavailableError,
} from '../common/errors/domain-errors';
import { toErrorResponse } from '../common/errors/error-response';
import { addRequestLogFields, logForRequest } from '../logging/request-log';
import { IdempotencyResult, Metrics } from '../metrics/metrics';
import { IdempotencyService } from './idempotency.service';

const claims = new WeakMap<FastifyRequest, IdempotencyClaim>();
const deferred = new WeakMap<FastifyRequest, IdempotentRequest>();

/** The claim of this request's Idempotency-Key, for a use case that stores its answer in its own transaction. */
export const IdempotencyClaimOf = createParamDecorator(
  (_: unknown, context: ExecutionContext): IdempotencyClaim | undefined =>
    claims.get(context.switchToHttp().getRequest<FastifyRequest>()),
);

/** The key of a route flagged `idempotencyInTransaction`, for its use case to judge and store. */
export function idempotentRequestOf(request: FastifyRequest): IdempotentRequest | undefined {
  return deferred.get(request);
}

/** Headers of an answer that are part of it and so replayed with it. */
const REPLAYED_HEADERS = ['content-type', 'retry-after'];

/**
 * The Idempotency-Key header on every POST and PATCH, as two Fastify hooks (wired in app.setup.ts):
 * - preHandler: a malformed key, or two Idempotency-Key headers, is a 400. A route flagged `idempotencyInTransaction` gets the key for its
 *   use case (ticket issuance judges, decides and stores in one transaction). Any other route claims the key
 *   here, or replays the stored answer (`Idempotent-Replayed: true`), or is refused (422, 409).
 * - onSend: keep the answer exactly as it goes out, unless the use case stored it already; a 5xx or an
 *   input refusal (400) is not kept, the claim is released so a retry runs afresh. An answer that could not
 *   be kept does not go out: it becomes a 503.
 */
@Injectable()
export class IdempotencyHooks {
  constructor(
    private readonly idempotency: IdempotencyService,
    private readonly metrics: Metrics,
  ) {}

  /** Resolves to the reply when it answered (a replay), which ends the request there. */
  async preHandler(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    if (request.method !== 'POST' && request.method !== 'PATCH') return undefined;
    const key = parseIdempotencyKey(request.headers['idempotency-key'], request.raw.rawHeaders);
    // No route, nothing to keep: the 404 is the answer every time.
    if (key === undefined || request.is404) return undefined;
    const idempotent = {
      key: scopedKey(key, verifiedUserOf(request)),
      fingerprint: fingerprintOf(
        request.method,
        routePatternOf(request) ?? request.url,
        request.params,
        request.body,
      ),
    };
    if (routeFlagsOf(request).idempotencyInTransaction) {
      deferred.set(request, idempotent);
      return undefined;
    }
    const outcome = await this.idempotency.begin(idempotent).catch((error: unknown) => {
      if (error instanceof IdempotencyKeyReusedError) this.count('key_reused');
      if (error instanceof IdempotencyKeyInFlightError) this.count('key_in_flight');
      throw error;
    });
    if (outcome.kind === 'proceed') {
      claims.set(request, outcome.claim);
      return undefined;
    }
    this.count('replayed');
    return reply.send(prepareReplay(reply, outcome.response));
  }

  private count(result: IdempotencyResult): void {
    this.metrics.idempotency.inc({ result });
  }

  /**
   * The payload to send, or a promise of it while the answer is being kept: most answers (no claim, or one
   * the use case stored) are sent without waiting a promise's turn.
   */
  onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): unknown {
    const claim = claims.get(request);
    if (!claim) return payload;
    if (claim.stored) {
      // Stored by the use case, in its own transaction.
      this.count('stored');
      return payload;
    }
    return this.keep(request, reply, payload, claim);
  }

  private async keep(
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    claim: IdempotencyClaim,
  ): Promise<unknown> {
    claims.delete(request);
    try {
      // Not kept (as Stripe does): a 5xx, so a retry can succeed, and a 400, which on these routes is always
      // a refusal of the input — the request never ran. (Issuance's business 400s are kept by its use case.)
      if (reply.statusCode >= 500) {
        // The answer does not wait: a 5xx often means the database is away, and the release would wait
        // for it too. Until it lands (or the claim times out) a retry is told 409 + Retry-After.
        this.idempotency.release(claim).catch((error: unknown) => {
          logForRequest(request, 'warn', { err: error }, 'Idempotency-Key claim not released');
        });
      } else if (reply.statusCode === 400) {
        await this.idempotency.release(claim);
      } else {
        await this.idempotency.complete(claim, {
          status: reply.statusCode,
          body: typeof payload === 'string' ? payload : '',
          headers: replayedHeaders(reply),
        });
        this.count('stored');
      }
    } catch (error) {
      // (The key itself is never logged: it is the client's secret handle on its request.)
      if (reply.statusCode >= 500 || reply.statusCode === 400) {
        logForRequest(request, 'warn', { err: error }, 'Idempotency-Key claim not released');
      } else {
        // An answer leaves only once its record is committed. Not stored: 409 when another request took
        // the key over, else 503 — a retry learns the outcome once the claim is released or times out.
        const refusal = toErrorResponse(
          error instanceof DomainError ? error : new ServiceUnavailableError(),
        );
        void reply.status(refusal.status).headers(refusal.headers);
        addRequestLogFields(request, { reason: refusal.reason, err: error });
        return JSON.stringify(refusal.body);
      }
    }
    return payload;
  }
}

/**
 * Readies a stored answer to go out again: same status, its headers plus `Idempotent-Replayed: true`;
 * returns the body, the same bytes as the first time, for the caller to send.
 */
export function prepareReplay(reply: FastifyReply, response: StoredResponse): string {
  void reply
    .status(response.status)
    .headers(response.headers)
    .header('idempotent-replayed', 'true');
  return response.body;
}

function replayedHeaders(reply: FastifyReply): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = reply.getHeader(name);
    if (value !== undefined) headers[name] = String(value);
  }
  return headers;
}
