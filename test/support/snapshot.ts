import type { Knex } from 'knex';

/** Every row of every table the service writes, to prove a refused request changed nothing. */
export async function snapshotDatabase(db: Knex): Promise<Record<string, unknown[]>> {
  const tables = ['events', 'eventDailyCounts', 'tickets', 'idempotencyKeys'];
  const entries = await Promise.all(
    tables.map(async (table) => [table, await db(table).select('*').orderByRaw('1')] as const),
  );
  return Object.fromEntries(entries);
}
