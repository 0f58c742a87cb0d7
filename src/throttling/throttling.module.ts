import { Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import type Redis from 'ioredis';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { FixedWindowThrottlerStorage } from './fixed-window-storage';
import { SurgeThrottler } from './surge-throttler';
import { THROTTLER_REDIS, ThrottlerRedisModule } from './throttler-redis';

/** Throttle counters (in memory, or Redis when REDIS_URL is set) and the hook that spends them. */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      imports: [ThrottlerRedisModule],
      inject: [APP_CONFIG, THROTTLER_REDIS],
      useFactory: (_config: AppConfig, redis: Redis | null) => ({
        storage: redis
          ? new ThrottlerStorageRedisService(redis)
          : new FixedWindowThrottlerStorage(),
        // The limits are applied by SurgeThrottler (a Fastify hook), not by ThrottlerGuard.
        throttlers: [],
      }),
    }),
  ],
  providers: [SurgeThrottler],
  exports: [SurgeThrottler],
})
export class ThrottlingModule {}
