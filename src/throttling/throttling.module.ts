import { Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import type Redis from 'ioredis';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { FixedWindowThrottlerStorage } from './fixed-window-storage';
import { ResilientThrottlerStorage } from './resilient-storage';
import { SurgeThrottler } from './surge-throttler';
import { THROTTLER_REDIS, ThrottlerRedisModule } from './throttler-redis';

/**
 * Throttle counters (in memory, or shared through Redis when REDIS_URL is set, falling back to memory while
 * Redis is away) and the hook that spends them.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      imports: [ThrottlerRedisModule],
      inject: [APP_CONFIG, THROTTLER_REDIS],
      useFactory: (config: AppConfig, redis: Redis | null) => ({
        storage: redis
          ? new ResilientThrottlerStorage(redis, config.workers)
          : new FixedWindowThrottlerStorage(config.workers),
        // The limits are applied by SurgeThrottler (a Fastify hook), not by ThrottlerGuard.
        throttlers: [],
      }),
    }),
  ],
  providers: [SurgeThrottler],
  exports: [SurgeThrottler],
})
export class ThrottlingModule {}
