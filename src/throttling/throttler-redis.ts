import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';

export const THROTTLER_REDIS = Symbol('THROTTLER_REDIS');

/**
 * The Redis connection behind shared throttle budgets: only when REDIS_URL is set; closed on shutdown.
 * Commands fail at once while it is disconnected and after THROTTLE_REDIS_TIMEOUT_MS when it is silent
 * (ResilientThrottlerStorage then counts in memory); it reconnects by itself, forever, with backoff.
 */
@Module({
  providers: [
    {
      provide: THROTTLER_REDIS,
      inject: [APP_CONFIG],
      useFactory: ({ throttle }: AppConfig): Redis | null =>
        throttle.redisUrl
          ? new Redis(throttle.redisUrl, {
              enableOfflineQueue: false,
              maxRetriesPerRequest: 0,
              commandTimeout: throttle.redisTimeoutMs,
              connectTimeout: Math.max(1_000, throttle.redisTimeoutMs),
              retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
            })
          : null,
    },
  ],
  exports: [THROTTLER_REDIS],
})
export class ThrottlerRedisModule implements OnApplicationShutdown {
  constructor(@Inject(THROTTLER_REDIS) private readonly redis: Redis | null) {}

  onApplicationShutdown(): void {
    // disconnect(), not quit(): quit waits for an answer a Redis that is down never gives.
    this.redis?.disconnect();
  }
}
