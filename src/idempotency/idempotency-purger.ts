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

/**
 * Deletes expired keys in small batches (SKIP LOCKED, one short statement each) so purging never holds a lock
 * that issuance waits on.
 */
@Injectable()
export class IdempotencyPurger implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(IdempotencyPurger.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly repository: IdempotencyRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.purgeExpired()
        .catch((error: unknown) => {
          this.logger.warn({ err: error }, 'purge of expired idempotency keys failed');
          return 0;
        })
        .finally(() => (this.running = undefined));
    }, this.config.idempotency.purgeIntervalSeconds * 1000);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Purges until no expired key is left; returns how many were deleted. */
  async purgeExpired(): Promise<number> {
    const { purgeBatchSize } = this.config.idempotency;
    let total = 0;
    for (;;) {
      const deleted = await this.repository.purgeExpired(
        this.knex,
        this.clock.now(),
        purgeBatchSize,
      );
      total += deleted;
      if (deleted < purgeBatchSize) break;
    }
    if (total > 0) this.logger.log({ deleted: total }, 'purged expired idempotency keys');
    return total;
  }
}
