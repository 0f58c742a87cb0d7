import {
  CallHandler,
  ExecutionContext,
  Injectable,
  Logger,
  NestInterceptor,
  createParamDecorator,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Observable, catchError, concatMap, from, of, switchMap } from 'rxjs';
import { toErrorResponse } from '../common/errors/error-response';
import type { IdempotencyClaim, StoredResponse } from './idempotency-claim';
import { IdempotencyService } from './idempotency.service';

const claims = new WeakMap<FastifyRequest, IdempotencyClaim>();

/** The claim of this request's Idempotency-Key, for use cases that store their answer in their own transaction. */
export const IdempotencyClaimOf = createParamDecorator(
  (_: unknown, context: ExecutionContext): IdempotencyClaim | undefined =>
    claims.get(context.switchToHttp().getRequest<FastifyRequest>()),
);

/**
 * Applies the Idempotency-Key header to every POST and PATCH: the first arrival runs and its answer is kept
 * (unless it is a 5xx), later arrivals get that answer back with `Idempotent-Replayed: true`.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private readonly logger = new Logger(IdempotencyInterceptor.name);

  constructor(private readonly idempotency: IdempotencyService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    if (request.method !== 'POST' && request.method !== 'PATCH') return next.handle();
    const key = this.idempotency.parseKey(request.headers['idempotency-key']);
    if (key === undefined) return next.handle();

    return from(this.idempotency.begin(key, request.method, request.url, request.body)).pipe(
      switchMap((outcome) => {
        if (outcome.kind === 'replay') return of(replay(reply, outcome.response));
        claims.set(request, outcome.claim);
        return this.runAndStore(next, reply, outcome.claim);
      }),
    );
  }

  private runAndStore(next: CallHandler, reply: FastifyReply, claim: IdempotencyClaim) {
    return next.handle().pipe(
      concatMap(async (body: unknown) => {
        if (!claim.stored) {
          await this.idempotency
            .complete(claim, { status: reply.statusCode, body })
            .catch((error: unknown) => this.logger.warn({ err: error }, 'answer not stored'));
        }
        return body;
      }),
      catchError(async (error: unknown) => {
        const response = toErrorResponse(error);
        if (response.status >= 500) {
          await this.idempotency.release(claim).catch(() => undefined);
        } else if (!claim.stored) {
          await this.idempotency.complete(claim, response).catch(() => undefined);
        }
        throw error;
      }),
    );
  }
}

function replay(reply: FastifyReply, response: StoredResponse): string {
  void reply
    .status(response.status)
    .headers(response.headers)
    .header('idempotent-replayed', 'true');
  return response.body;
}
