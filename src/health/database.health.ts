import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { Knex } from 'knex';
import { KNEX } from '../database/database.module';

interface PoolLike {
  numUsed(): number;
  numPendingAcquires(): number;
  max: number;
}

/** Ready when PostgreSQL answers, every migration is applied, and the pool is not drowning in waiters. */
@Injectable()
export class DatabaseHealthIndicator {
  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    private readonly indicators: HealthIndicatorService,
  ) {}

  async check(key: string) {
    const indicator = this.indicators.check(key);
    const pool = (this.knex.client as { pool?: PoolLike }).pool;
    const poolState = pool
      ? { used: pool.numUsed(), waiting: pool.numPendingAcquires(), max: pool.max }
      : undefined;
    try {
      // Reading the migrations table also proves the database answers.
      const [, pending] = (await this.knex.migrate.list()) as [unknown[], unknown[]];
      if (pending.length > 0)
        return indicator.down({ reason: 'migrations pending', pending: pending.length });
      if (poolState && poolState.waiting > poolState.max * 4) {
        return indicator.down({ reason: 'connection pool exhausted', pool: poolState });
      }
      return indicator.up({ pool: poolState });
    } catch {
      return indicator.down({ reason: 'database unreachable' });
    }
  }
}
