import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import knexFactory, { Knex } from 'knex';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { buildKnexConfig } from '../database/knex-config';

/** A probe answers within this, or the database counts as unreachable. */
const PROBE_TIMEOUT_MS = 2_000;
/** A probe that found the database well stands for this long: probe floods cost one query a second. */
const UP_REUSED_FOR_MS = 1_000;

/**
 * Ready when PostgreSQL answers and every migration is applied. The probe has a connection of its own,
 * outside the service's pool: at the launch peak the pool is saturated by design (requests queue for it
 * and are answered), and a readiness that waited in that queue would pull every replica out of the load
 * balancer exactly then. A silent database fails the probe within PROBE_TIMEOUT_MS.
 */
@Injectable()
export class DatabaseHealthIndicator implements OnApplicationShutdown {
  private readonly probe: Knex;
  /** Migrations, once all applied, stay applied: later probes only check that PostgreSQL answers. */
  private migrated = false;
  /** When the database last answered a probe; an answer is good for UP_REUSED_FOR_MS. */
  private lastUpAt = -Infinity;
  /** The probe in flight: concurrent checks share it (one query, however many probes arrive). */
  private probing?: Promise<Record<string, unknown> | undefined>;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly indicators: HealthIndicatorService,
  ) {
    this.probe = knexFactory(
      buildKnexConfig({
        url: config.database.url!,
        poolMin: 0,
        poolMax: 1,
        acquireTimeoutMs: PROBE_TIMEOUT_MS,
        statementTimeoutMs: PROBE_TIMEOUT_MS,
        queryTimeoutMs: PROBE_TIMEOUT_MS,
      }),
    );
  }

  async check(key: string) {
    const indicator = this.indicators.check(key);
    if (performance.now() - this.lastUpAt > UP_REUSED_FOR_MS) {
      this.probing ??= this.probeDatabase().finally(() => (this.probing = undefined));
      const problem = await this.probing;
      if (problem) return indicator.down(problem);
    }
    return indicator.up();
  }

  /** Undefined when ready; otherwise what is wrong. */
  private async probeDatabase(): Promise<Record<string, unknown> | undefined> {
    try {
      if (!this.migrated) {
        const [, pending] = (await this.probe.migrate.list()) as [unknown[], unknown[]];
        if (pending.length > 0) return { reason: 'migrations pending', pending: pending.length };
        this.migrated = true;
      } else {
        await this.probe.raw('SELECT 1');
      }
      this.lastUpAt = performance.now();
      return undefined;
    } catch {
      return { reason: 'database unreachable' };
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.probe.destroy();
  }
}
