import type { Knex } from 'knex';

// The purge sweeps the table in block ranges (IdempotencyPurger) instead of reading an index on
// expires_at: a key record is one index entry fewer to write (≈ 70 bytes of WAL and a few µs of the
// group commit's CPU, `npm run bench -- --only key-store`), and no insert lands on that index's right
// edge, where every key record went. `idempotency_purge` holds when the fleet last started a sweep, so
// one instance a purge interval sweeps, not all of them.
//
// Outside a transaction: DROP INDEX CONCURRENTLY waits for no lock that the group commits hold.
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX CONCURRENTLY IF EXISTS idempotency_keys_by_expiry');
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS idempotency_purge (
      one_row   boolean PRIMARY KEY DEFAULT true CHECK (one_row),
      swept_at  timestamptz NOT NULL DEFAULT '-infinity'
    )`);
  await knex.raw('INSERT INTO idempotency_purge DEFAULT VALUES ON CONFLICT DO NOTHING');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS idempotency_purge');
  await knex.raw(
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_at)',
  );
}
