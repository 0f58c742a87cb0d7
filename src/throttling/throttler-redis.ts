import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';

export const THROTTLER_REDIS = Symbol('THROTTLER_REDIS');

/** The Redis connection behind shared throttle budgets: only when REDIS_URL is set; closed on shutdown. */
@Module({
  providers: [
    {
      provide: THROTTLER_REDIS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): Redis | null =>
        config.throttle.redisUrl
          ? new Redis(config.throttle.redisUrl, { maxRetriesPerRequest: 1 })
          : null,
    },
  ],
  exports: [THROTTLER_REDIS],
})
export class ThrottlerRedisModule implements OnApplicationShutdown {
  constructor(@Inject(THROTTLER_REDIS) private readonly redis: Redis | null) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis?.quit();
  }
}
