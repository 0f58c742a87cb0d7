import type { Knex } from 'knex';
import * as createEventsAndTickets from './20261125000100_create_events_and_tickets';
import * as createIdempotencyKeys from './20261125000200_create_idempotency_keys';
import * as scopeIdempotencyKeys from './20261126000100_scope_idempotency_keys';
import * as purgeBySweep from './20261204000100_purge_by_sweep';

type Migration = Knex.Migration;

/**
 * The ordered list of migrations. Listing them as modules (instead of scanning a folder) keeps their names the
 * same whether they run as TypeScript (tests, `npm run migrate`) or compiled JavaScript (`npm run start:prod`).
 */
const migrations: ReadonlyArray<[string, Migration]> = [
  ['20261125000100_create_events_and_tickets', createEventsAndTickets],
  ['20261125000200_create_idempotency_keys', createIdempotencyKeys],
  ['20261126000100_scope_idempotency_keys', scopeIdempotencyKeys],
  ['20261204000100_purge_by_sweep', purgeBySweep],
];

/** The names of every migration, in order. */
export const MIGRATION_NAMES = migrations.map(([name]) => name);

export const migrationSource: Knex.MigrationSource<[string, Migration]> = {
  getMigrations: () => Promise.resolve([...migrations]),
  getMigrationName: ([name]) => name,
  getMigration: ([, migration]) => Promise.resolve(migration),
};
