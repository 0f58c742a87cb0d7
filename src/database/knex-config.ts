import type { Knex } from 'knex';
import { knexSnakeCaseMappers } from 'objection';
import { defaults, types } from 'pg';
import { migrationSource } from '../../migrations';
import { MIGRATIONS_LOCK, withAdvisoryLock } from './advisory-lock';
import { isLockTimeout } from './pg-errors';
import { silenceGuardedPgClient } from './silence-guard';

// Ids and counts are bounded to safe integers by validation, so int8 can be read as a number.
types.setTypeParser(types.builtins.INT8, (value) => Number(value));
// Instants go to PostgreSQL in UTC and come back in UTC (TimeZone below), whatever the process's or the
// server's time zone: local zones with historical offsets in seconds (Seoul before 1908) would shift them.
defaults.parseInputDatesAsUTC = true;

export interface KnexSettings {
  url: string;
  poolMin?: number;
  poolMax?: number;
  acquireTimeoutMs?: number;
  statementTimeoutMs?: number;
  /** Client-side deadline of every query; defaults to the statement timeout plus a second. */
  queryTimeoutMs?: number;
  /** Where knex's own warnings go (pool errors while the database is down); silent when omitted. */
  log?: (level: 'warn' | 'error', message: string) => void;
}

/** One knex configuration for the app, the migration CLI, the tests and the benchmark. */
export function buildKnexConfig(settings: KnexSettings): Knex.Config {
  const statementTimeoutMs = settings.statementTimeoutMs ?? 5_000;
  return {
    client: silenceGuardedPgClient(settings.queryTimeoutMs ?? statementTimeoutMs + 1_000),
    connection: {
      connectionString: settings.url,
      statement_timeout: statementTimeoutMs,
      // Never wait on a lock longer than a statement may run.
      lock_timeout: statementTimeoutMs,
      idle_in_transaction_session_timeout: statementTimeoutMs * 2,
      connectionTimeoutMillis: settings.acquireTimeoutMs ?? 3_000,
      application_name: 'golden-ticket',
      // Both ends notice a peer that vanished without closing (a partition) in seconds, not hours: the
      // server then ends the session and releases what it held (advisory locks, an open transaction).
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      // Named statements are parsed once a connection but planned at every run, for the tables as they are:
      // a cached generic plan is made for the table of its first runs (the key store's, empty or a few rows
      // when a drop opens) and kept until autoanalyze, scanning every key meanwhile.
      options:
        '-c TimeZone=UTC -c plan_cache_mode=force_custom_plan ' +
        '-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3',
    } as Knex.PgConnectionConfig,
    pool: {
      min: settings.poolMin ?? 2,
      max: settings.poolMax ?? 20,
      // A dead database must turn into a quick 503, never a hung request.
      acquireTimeoutMillis: settings.acquireTimeoutMs ?? 3_000,
      createTimeoutMillis: settings.acquireTimeoutMs ?? 3_000,
      propagateCreateError: true,
    },
    acquireConnectionTimeout: settings.acquireTimeoutMs ?? 3_000,
    migrations: { migrationSource, tableName: 'knex_migrations' },
    log: {
      warn: (message: string) => settings.log?.('warn', String(message)),
      error: (message: string) => settings.log?.('error', String(message)),
      deprecate: () => undefined,
      debug: () => undefined,
    },
    ...knexSnakeCaseMappers(),
  };
}

/** How long an instance waits for another instance's migrations before giving up its start. */
const MIGRATIONS_WAIT_MS = 10 * 60 * 1000;

/**
 * Applies pending migrations; returns the names applied now. The whole step runs under one advisory lock,
 * so instances started together on an empty database migrate once: the others wait, then find nothing
 * pending. (knex's own migration lock does not cover creating its bookkeeping tables.)
 */
export async function applyMigrations(knex: Knex): Promise<string[]> {
  // Another instance's migrations may outlast one lock_timeout: wait for them, within a bound.
  const deadline = Date.now() + MIGRATIONS_WAIT_MS;
  for (;;) {
    try {
      return await withAdvisoryLock(knex, MIGRATIONS_LOCK, async () => {
        const [, applied] = (await knex.migrate.latest()) as [number, string[]];
        return applied;
      });
    } catch (error) {
      if (!isLockTimeout(error) || Date.now() > deadline) throw error;
    }
  }
}
