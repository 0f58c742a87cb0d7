import { Logger, OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import type Redis from 'ioredis';
import { FixedWindowThrottlerStorage } from './fixed-window-storage';

type StorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** While Redis is away, it is asked again this often (a PING), not on every request. */
const PROBE_INTERVAL_MS = 1_000;

/**
 * Throttle counters shared through Redis while it answers, and per-instance memory counters while it does
 * not: a Redis outage must never fail a request (a 5xx) or slow each one by a timeout. Redis counts as gone
 * when its connection closes or a command fails (a silent Redis: THROTTLE_REDIS_TIMEOUT_MS); it counts as
 * back when a PING answers. Each change is logged once, as a warning.
 */
export class ResilientThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('Throttling');
  private readonly shared: ThrottlerStorageRedisService;
  private readonly local: FixedWindowThrottlerStorage;
  private sharedUp = true;
  private probe?: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    workers: number,
  ) {
    this.shared = new ThrottlerStorageRedisService(redis);
    this.local = new FixedWindowThrottlerStorage(workers);
    // Without a listener ioredis prints every connection error to stderr as an unhandled error event.
    redis.on('error', () => undefined);
    redis.on('close', () => this.wentAway('connection closed'));
    redis.on('ready', () => void this.checkBack());
  }

  /** Whether budgets are currently shared through Redis (false: per-instance memory). */
  get isShared(): boolean {
    return this.sharedUp;
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<StorageRecord> {
    if (this.sharedUp) {
      try {
        return await this.shared.increment(key, ttl, limit, blockDuration, throttlerName);
      } catch (error) {
        this.wentAway(error instanceof Error ? error.message : String(error));
      }
    }
    return this.local.increment(key, ttl, limit, blockDuration);
  }

  onApplicationShutdown(): void {
    clearInterval(this.probe);
    this.local.onApplicationShutdown();
  }

  private wentAway(reason: string): void {
    if (!this.sharedUp) return;
    this.sharedUp = false;
    this.logger.warn(
      { reason },
      'Redis unreachable: throttle budgets are per instance (memory) until it answers again',
    );
    this.probe = setInterval(() => void this.checkBack(), PROBE_INTERVAL_MS);
    this.probe.unref();
  }

  private async checkBack(): Promise<void> {
    if (this.sharedUp) return;
    try {
      await this.redis.ping();
    } catch {
      return;
    }
    if (this.sharedUp) return;
    this.sharedUp = true;
    clearInterval(this.probe);
    this.logger.warn('Redis answers again: throttle budgets are shared across instances again');
  }
}
