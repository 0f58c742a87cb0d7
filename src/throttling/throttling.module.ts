import { Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { FixedWindowThrottlerStorage } from './fixed-window-storage';
import { OrderedAdmission } from './ordered-admission';
import { ResilientThrottlerStorage } from './resilient-storage';
import { SurgeThrottler } from './surge-throttler';
import { SharedRedis, THROTTLER_REDIS, ThrottlerRedisModule } from './throttler-redis';

/**
 * The per-address line (OrderedAdmission) and the per-user budget (SurgeThrottler, on @nestjs/throttler's
 * storage): in memory, or shared through Redis when REDIS_URL is set, falling back to memory while Redis
 * is away.
 */
@Module({
  imports: [
    ThrottlerRedisModule,
    ThrottlerModule.forRootAsync({
      imports: [ThrottlerRedisModule],
      inject: [APP_CONFIG, THROTTLER_REDIS],
      useFactory: (config: AppConfig, redis: SharedRedis | null) => ({
        storage: redis
          ? new ResilientThrottlerStorage(redis, config.workers)
          : new FixedWindowThrottlerStorage(config.workers),
        // The limits are applied by SurgeThrottler (a Fastify hook), not by ThrottlerGuard.
        throttlers: [],
      }),
    }),
  ],
  providers: [OrderedAdmission, SurgeThrottler],
  exports: [OrderedAdmission, SurgeThrottler],
})
export class ThrottlingModule {}
