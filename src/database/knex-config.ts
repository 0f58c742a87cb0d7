import type { Knex } from 'knex';
import { knexSnakeCaseMappers } from 'objection';
import { types } from 'pg';
import { migrationSource } from '../../migrations';

// Ids and counts are bounded to safe integers by validation, so int8 can be read as a number.
types.setTypeParser(types.builtins.INT8, (value) => Number(value));

export interface KnexSettings {
  url: string;
  poolMin?: number;
  poolMax?: number;
  acquireTimeoutMs?: number;
  statementTimeoutMs?: number;
  /** Where knex's own warnings go (pool errors while the database is down); silent when omitted. */
  log?: (level: 'warn' | 'error', message: string) => void;
}

/** One knex configuration for the app, the migration CLI, the tests and the benchmark. */
export function buildKnexConfig(settings: KnexSettings): Knex.Config {
  const statementTimeoutMs = settings.statementTimeoutMs ?? 5_000;
  return {
    client: 'pg',
    connection: {
      connectionString: settings.url,
      statement_timeout: statementTimeoutMs,
      // Never wait on a lock longer than a statement may run.
      lock_timeout: statementTimeoutMs,
      idle_in_transaction_session_timeout: statementTimeoutMs * 2,
      connectionTimeoutMillis: settings.acquireTimeoutMs ?? 3_000,
      application_name: 'golden-ticket',
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

/** Applies pending migrations; returns the names applied now. */
export async function applyMigrations(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest()) as [number, string[]];
  return applied;
}
