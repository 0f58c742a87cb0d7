import { Inject, Injectable } from '@nestjs/common';
import { ThrottlerStorage, getStorageToken } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { TooManyRequestsError } from '../common/errors/domain-errors';
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
 * Sheds surplus traffic with a 429 before any database work: runs as a Fastify preHandler, ahead of the
 * idempotency hook and every route handler. Counters live in @nestjs/throttler's storage: in memory, or Redis
 * when REDIS_URL is set so several instances spend one budget.
 */
@Injectable()
export class SurgeThrottler {
  private readonly limits: NamedLimit[];

  constructor(
    @Inject(getStorageToken()) private readonly storage: ThrottlerStorage,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: Metrics,
  ) {
    const { ipLimit, ipTtlMs, userLimit, userTtlMs } = config.throttle;
    this.limits = [
      {
        name: 'ip',
        limit: ipLimit,
        ttlMs: ipTtlMs,
        // Probes and scrapes are never shed (those routes only, not paths that look like them).
        trackerOf: (request) => (routeFlagsOf(request).operational ? undefined : request.ip),
      },
      {
        name: 'user',
        limit: userLimit,
        ttlMs: userTtlMs,
        trackerOf: (request) => {
          if (!routeFlagsOf(request).throttlePerUser) return undefined;
          const userId = (request.body as { userId?: unknown } | undefined)?.userId;
          return Number.isSafeInteger(userId) ? String(userId) : undefined;
        },
      },
    ];
  }

  /** Counts the request against every limit that applies; throws TooManyRequestsError past one. */
  async check(request: FastifyRequest): Promise<void> {
    for (const { name, limit, ttlMs, trackerOf } of this.limits) {
      const tracker = trackerOf(request);
      if (tracker === undefined) continue;
      const key = `${this.config.throttle.keyPrefix}:${name}:${tracker}`;
      const record = await this.storage.increment(key, ttlMs, limit, ttlMs, name);
      if (record.isBlocked) {
        this.metrics.throttled.inc({ scope: name });
        throw new TooManyRequestsError(Math.max(1, Math.ceil(record.timeToBlockExpire)));
      }
    }
  }
}
