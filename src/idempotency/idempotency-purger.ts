import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import type { Knex } from 'knex';
import { Clock } from '../clock/clock';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { KNEX } from '../database/database.module';
import { IdempotencyRepository } from './idempotency.repository';

/** Blocks a purge statement scans (512 KiB, about a thousand key records). */
export const SWEEP_BLOCKS = 64;

/** How often each instance asks whether the fleet's sweep is due: a sweep starts at most this late. */
const SWEEP_DUE_CHECK_MS = 60_000;

/**
 * Deletes expired keys by sweeping the key table in block ranges, one short statement each (SKIP LOCKED), so
 * purging never holds a lock that issuance waits on and needs no index that every key record would write.
 * Every purge interval, the instance that starts the fleet's sweep (IdempotencyRepository.startSweep) sweeps
 * the whole table; the others skip it.
 */
@Injectable()
export class IdempotencyPurger implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(IdempotencyPurger.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;
  private stopping = false;

  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly repository: IdempotencyRepository,
  ) {}

  onApplicationBootstrap(): void {
    const { purgeIntervalSeconds } = this.config.idempotency;
    this.timer = setInterval(
      () => {
        if (this.running) return;
        this.running = this.repository
          .startSweep(this.knex, purgeIntervalSeconds)
          .then((started) => (started ? this.purgeExpired() : 0))
          .catch((error: unknown) => {
            this.logger.warn({ err: error }, 'purge of expired idempotency keys failed');
            return 0;
          })
          .finally(() => (this.running = undefined));
      },
      Math.min(SWEEP_DUE_CHECK_MS, purgeIntervalSeconds * 1000),
    );
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    // A sweep stops at its next block range: the next interval's sweep deletes what this one left.
    this.stopping = true;
    await this.running;
  }

  /** Sweeps the table once: deletes every key expired by now; returns how many went. */
  async purgeExpired(): Promise<number> {
    const { purgeBatchSize } = this.config.idempotency;
    const now = this.clock.now();
    // Rows written during the sweep, past its end, expire a lifetime from now: the next sweeps' work.
    const blocks = await this.repository.blocks(this.knex);
    let total = 0;
    for (let from = 0; from < blocks && !this.stopping; from += SWEEP_BLOCKS) {
      const range = { from, to: from + SWEEP_BLOCKS };
      for (;;) {
        const deleted = await this.repository.purgeExpired(this.knex, now, range, purgeBatchSize);
        total += deleted;
        if (deleted < purgeBatchSize) break;
      }
    }
    if (total > 0) this.logger.log({ deleted: total }, 'purged expired idempotency keys');
    return total;
  }
}
