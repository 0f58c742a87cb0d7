import { ExecutionContext, Injectable, Module, SetMetadata } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModule } from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import Redis from 'ioredis';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { TooManyRequestsError } from '../common/errors/domain-errors';

const PER_USER = 'golden-ticket:throttle-per-user';

/** Marks a handler whose body's `userId` gets its own budget (ticket issuance). */
export const ThrottlePerUser = () => SetMetadata(PER_USER, true);

/** Sheds surplus traffic with a 429 in the spec's shape before any database work. */
@Injectable()
export class SurgeThrottlerGuard extends ThrottlerGuard {
  protected override throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    throw new TooManyRequestsError(Math.max(1, Math.ceil(detail.timeToBlockExpire)));
  }
}

/**
 * Two named budgets, both from configuration: `ip` for every request of one client address (across routes),
 * and `user` for ticket issuance per body `userId`. In memory by default; shared through Redis when
 * REDIS_URL is set, so several instances spend one budget.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        setHeaders: false,
        storage: config.throttle.redisUrl
          ? new ThrottlerStorageRedisService(
              new Redis(config.throttle.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: false }),
            )
          : undefined,
        throttlers: [
          {
            name: 'ip',
            limit: config.throttle.ipLimit,
            ttl: config.throttle.ipTtlMs,
            generateKey: (_context, tracker) => `ip:${tracker}`,
          },
          {
            name: 'user',
            limit: config.throttle.userLimit,
            ttl: config.throttle.userTtlMs,
            skipIf: (context) => !isPerUserThrottled(context),
            getTracker: (req) => String((req.body as { userId?: unknown } | undefined)?.userId),
            generateKey: (_context, tracker) => `issue-user:${tracker}`,
          },
        ],
      }),
    }),
  ],
  providers: [{ provide: APP_GUARD, useClass: SurgeThrottlerGuard }],
})
export class ThrottlingModule {}

function isPerUserThrottled(context: ExecutionContext): boolean {
  const body = context.switchToHttp().getRequest<{ body?: unknown }>().body as
    { userId?: unknown } | undefined;
  return (
    Reflect.getMetadata(PER_USER, context.getHandler()) === true &&
    Number.isSafeInteger(body?.userId)
  );
}
