import { OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { FixedWindowThrottlerStorage } from './fixed-window-storage';
import type { SharedRedis } from './throttler-redis';

type StorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * Throttle counters shared through Redis while it answers, and per-instance memory counters while it does
 * not (SharedRedis tells which, and logs each change once).
 */
export class ResilientThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly shared: ThrottlerStorageRedisService;
  private readonly local: FixedWindowThrottlerStorage;

  constructor(
    private readonly redis: SharedRedis,
    workers: number,
  ) {
    this.shared = new ThrottlerStorageRedisService(redis.redis);
    this.local = new FixedWindowThrottlerStorage(workers);
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<StorageRecord> {
    if (this.redis.isUp) {
      try {
        return await this.redis.run(() =>
          this.shared.increment(key, ttl, limit, blockDuration, throttlerName),
        );
      } catch (error) {
        this.redis.failed(error);
      }
    }
    return this.local.increment(key, ttl, limit, blockDuration);
  }

  onApplicationShutdown(): void {
    this.local.onApplicationShutdown();
  }
}
