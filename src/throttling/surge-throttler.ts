import { Inject, Injectable } from '@nestjs/common';
import { ThrottlerStorage, getStorageToken } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { TooManyRequestsError } from '../common/errors/domain-errors';
import { verifiedUserOf } from '../auth/user-auth';
import { routeFlagsOf } from '../common/route-flags';
import { Metrics } from '../metrics/metrics';

/**
 * The per-user budget of issuance: a step of the preHandler pipeline (app.setup.ts) after the per-address
 * line (OrderedAdmission) and the end-user token, before any database work. It counts the verified user
 * when tokens are on, the body's `userId` otherwise, so one client looping under one userId is refused 429
 * however its requests passed the line. Counters live in @nestjs/throttler's storage: in memory, or Redis
 * when REDIS_URL is set so several instances spend one budget.
 */
@Injectable()
export class SurgeThrottler {
  constructor(
    @Inject(getStorageToken()) private readonly storage: ThrottlerStorage,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: Metrics,
  ) {}

  /** Throws TooManyRequestsError past the user's budget. */
  async checkUser(request: FastifyRequest): Promise<void> {
    const tracker = userOf(request);
    if (tracker === undefined) return;
    const { keyPrefix, userLimit, userTtlMs } = this.config.throttle;
    const record = await this.storage.increment(
      `${keyPrefix}:user:${tracker}`,
      userTtlMs,
      userLimit,
      userTtlMs,
      'user',
    );
    if (record.isBlocked) {
      this.metrics.throttled.inc({ scope: 'user' });
      throw new TooManyRequestsError(Math.max(1, Math.ceil(record.timeToBlockExpire)));
    }
  }
}

/** The user a request is counted against, or undefined on routes without the budget. */
function userOf(request: FastifyRequest): string | undefined {
  if (!routeFlagsOf(request).throttlePerUser) return undefined;
  const verified = verifiedUserOf(request);
  if (verified !== undefined) return verified;
  const userId = (request.body as { userId?: unknown } | undefined)?.userId;
  return Number.isSafeInteger(userId) ? String(userId) : undefined;
}
