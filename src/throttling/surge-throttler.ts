import { Inject, Injectable } from '@nestjs/common';
import { ThrottlerStorage, getStorageToken } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { TooManyRequestsError } from '../common/errors/domain-errors';
import { verifiedUserOf } from '../auth/user-auth';
import { routeFlagsOf } from '../common/route-flags';
import { Metrics } from '../metrics/metrics';

interface NamedLimit {
  name: string;
  limit: number;
  ttlMs: number;
  /** The client this request is counted against, or undefined when the limit does not apply. */
  trackerOf(request: FastifyRequest): string | undefined;
}

/**
 * Sheds surplus traffic with a 429 before any database work, in two budgets checked as steps of the
 * preHandler pipeline (app.setup.ts): per client IP first — a coarse flood guard, many users can share one
 * carrier address — then, once an end-user token is verified, per user — fairness: the verified user when
 * tokens are on, the body's `userId` otherwise. Counters live in @nestjs/throttler's storage: in memory, or
 * Redis when REDIS_URL is set so several instances spend one budget.
 */
@Injectable()
export class SurgeThrottler {
  private readonly client: NamedLimit;
  private readonly user: NamedLimit;

  constructor(
    @Inject(getStorageToken()) private readonly storage: ThrottlerStorage,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: Metrics,
  ) {
    const { ipLimit, ipTtlMs, userLimit, userTtlMs } = config.throttle;
    this.client = {
      name: 'ip',
      limit: ipLimit,
      ttlMs: ipTtlMs,
      // Probes and scrapes are never shed (those routes only, not paths that look like them).
      trackerOf: (request) => (routeFlagsOf(request).operational ? undefined : request.ip),
    };
    this.user = {
      name: 'user',
      limit: userLimit,
      ttlMs: userTtlMs,
      trackerOf: (request) => {
        if (!routeFlagsOf(request).throttlePerUser) return undefined;
        const verified = verifiedUserOf(request);
        if (verified !== undefined) return verified;
        const userId = (request.body as { userId?: unknown } | undefined)?.userId;
        return Number.isSafeInteger(userId) ? String(userId) : undefined;
      },
    };
  }

  /** The per-IP flood guard; throws TooManyRequestsError past it. */
  checkClient(request: FastifyRequest): Promise<void> {
    return this.spend(this.client, request);
  }

  /** The per-user budget (issuance), after the end-user token check. */
  checkUser(request: FastifyRequest): Promise<void> {
    return this.spend(this.user, request);
  }

  private async spend(
    { name, limit, ttlMs, trackerOf }: NamedLimit,
    request: FastifyRequest,
  ): Promise<void> {
    const tracker = trackerOf(request);
    if (tracker === undefined) return;
    const key = `${this.config.throttle.keyPrefix}:${name}:${tracker}`;
    const record = await this.storage.increment(key, ttlMs, limit, ttlMs, name);
    if (record.isBlocked) {
      this.metrics.throttled.inc({ scope: name });
      throw new TooManyRequestsError(Math.max(1, Math.ceil(record.timeToBlockExpire)));
    }
  }
}
