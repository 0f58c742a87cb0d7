import { OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';

interface Window {
  hits: number;
  endsAt: number;
  blockedUntil: number;
}

type StorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * In-memory throttle counters, O(1) per request: one fixed window per key. (@nestjs/throttler's own
 * in-memory storage keeps and prunes one timestamp per hit, which costs O(limit) per request: a tenth of
 * the CPU under a surge with generous limits.)
 *
 * With several workers (WORKERS) each process counts its share of every budget, the limit divided by the
 * number of workers (rounded up): the port's connections are spread over the workers, so the budgets keep
 * their meaning for the machine as a whole. Shared budgets need Redis.
 */
export class FixedWindowThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly windows = new Map<string, Window>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly workers = 1,
    sweepEveryMs = 10_000,
  ) {
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
    this.sweeper.unref();
  }

  increment(
    key: string,
    ttlMs: number,
    limit: number,
    blockDurationMs: number,
  ): Promise<StorageRecord> {
    const now = Date.now();
    let window = this.windows.get(key);
    if (!window || (window.endsAt <= now && window.blockedUntil <= now)) {
      window = { hits: 0, endsAt: now + ttlMs, blockedUntil: 0 };
      this.windows.set(key, window);
    }
    if (window.blockedUntil <= now) {
      window.hits += 1;
      if (window.hits > Math.ceil(limit / this.workers))
        window.blockedUntil = now + blockDurationMs;
    }
    const isBlocked = window.blockedUntil > now;
    return Promise.resolve({
      totalHits: window.hits,
      timeToExpire: Math.ceil((window.endsAt - now) / 1000),
      isBlocked,
      timeToBlockExpire: isBlocked ? Math.ceil((window.blockedUntil - now) / 1000) : 0,
    });
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, window] of this.windows) {
      if (window.endsAt <= now && window.blockedUntil <= now) this.windows.delete(key);
    }
  }
}
