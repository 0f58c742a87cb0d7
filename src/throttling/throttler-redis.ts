import { Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';

export const THROTTLER_REDIS = Symbol('THROTTLER_REDIS');

/** While Redis is away, it is asked again this often (a PING), not on every request. */
const PROBE_INTERVAL_MS = 1_000;
/** ioredis's own time-out: only a backstop, so that no command of a silent Redis is kept forever. */
const BACKSTOP_TIMEOUT_FACTOR = 10;

/**
 * The Redis behind shared throttling (the per-user budgets and the per-address line), and whether it is
 * answering: one state for both, so an outage is seen, logged and ended once. Redis counts as gone when its
 * connection closes or a command fails (a silent Redis: unanswered for THROTTLE_REDIS_TIMEOUT_MS); it
 * counts as back when a PING answers. Each change is logged once, as a warning. While it is gone,
 * throttling works per instance in memory: a Redis outage never fails a request (a 5xx) or slows each one
 * by a timeout.
 */
export class SharedRedis {
  private readonly logger = new Logger('Throttling');
  private up = true;
  private closing = false;
  private probe?: NodeJS.Timeout;

  constructor(
    readonly redis: Redis,
    private readonly timeoutMs: number,
  ) {
    // Without a listener ioredis prints every connection error to stderr as an unhandled error event.
    redis.on('error', () => undefined);
    redis.on('close', () => this.failed('connection closed'));
    redis.on('ready', () => void this.checkBack());
  }

  /** Whether throttling is currently shared through Redis (false: per-instance memory). */
  get isUp(): boolean {
    return this.up;
  }

  /**
   * Runs a command, failing it if Redis leaves it unanswered for THROTTLE_REDIS_TIMEOUT_MS. Its timer
   * decides after the event loop's poll phase: a process busy for longer than that (a surge's thousand
   * requests in one turn) reads the answer that came in time before it judges, instead of calling Redis
   * gone — which would put every instance on a line of its own at the opening second.
   */
  run<T>(command: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(
        () =>
          setImmediate(() => {
            if (settled) return;
            settled = true;
            reject(new Error(`Redis did not answer within ${this.timeoutMs} ms`));
          }),
        this.timeoutMs,
      );
      command().then(
        (value) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /** A command failed or the connection closed: per-instance memory until a PING answers. */
  failed(reason: unknown): void {
    // Its own shutdown closing the connection is no outage.
    if (!this.up || this.closing) return;
    this.up = false;
    this.logger.warn(
      { reason: reason instanceof Error ? reason.message : String(reason) },
      'Redis unreachable: throttle budgets and the per-address line are per instance (memory) until it answers again',
    );
    this.probe = setInterval(() => void this.checkBack(), PROBE_INTERVAL_MS);
    this.probe.unref();
  }

  close(): void {
    this.closing = true;
    clearInterval(this.probe);
    // disconnect(), not quit(): quit waits for an answer a Redis that is down never gives.
    this.redis.disconnect();
  }

  private async checkBack(): Promise<void> {
    if (this.up) return;
    try {
      await this.run(() => this.redis.ping());
    } catch {
      return;
    }
    if (this.up) return;
    this.up = true;
    clearInterval(this.probe);
    this.logger.warn(
      'Redis answers again: throttle budgets and the per-address line are shared across instances again',
    );
  }
}

/**
 * The Redis connection behind shared throttling: only when REDIS_URL is set; closed on shutdown. Commands
 * fail at once while it is disconnected and after THROTTLE_REDIS_TIMEOUT_MS when it is silent
 * (SharedRedis.run); it reconnects by itself, forever, with backoff.
 */
@Module({
  providers: [
    {
      provide: THROTTLER_REDIS,
      inject: [APP_CONFIG],
      useFactory: ({ throttle }: AppConfig): SharedRedis | null =>
        throttle.redisUrl
          ? new SharedRedis(
              new Redis(throttle.redisUrl, {
                enableOfflineQueue: false,
                maxRetriesPerRequest: 0,
                commandTimeout: throttle.redisTimeoutMs * BACKSTOP_TIMEOUT_FACTOR,
                connectTimeout: Math.max(1_000, throttle.redisTimeoutMs),
                retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
              }),
              throttle.redisTimeoutMs,
            )
          : null,
    },
  ],
  exports: [THROTTLER_REDIS],
})
export class ThrottlerRedisModule implements OnApplicationShutdown {
  constructor(@Inject(THROTTLER_REDIS) private readonly shared: SharedRedis | null) {}

  onApplicationShutdown(): void {
    this.shared?.close();
  }
}
