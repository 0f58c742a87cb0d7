import type { Knex } from 'knex';
import { ServiceUnavailableError } from '../src/common/errors/domain-errors';
import { runSerializable } from '../src/database/transaction';
import { connect, createTestDatabase } from './support/test-database';

/**
 * The SERIALIZABLE retry loop on a real PostgreSQL: a serialization failure is run again, and when the
 * attempts run out the caller gets a 503 that carries the last failure as its cause, so the 503's log line
 * says "contention" instead of nothing.
 */
describe('runSerializable', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let knex: Knex;

  beforeAll(async () => {
    database = await createTestDatabase();
    knex = connect(database.url);
  });
  afterAll(async () => {
    await knex?.destroy();
    await database?.drop();
  });

  /** Two transactions that each read what the other writes: one of them fails with 40001. */
  async function writeSkew(): Promise<void> {
    await knex.raw('CREATE TABLE IF NOT EXISTS skew (id int PRIMARY KEY, v int NOT NULL)');
    await knex.raw('INSERT INTO skew VALUES (1, 0), (2, 0) ON CONFLICT (id) DO UPDATE SET v = 0');
  }

  it('runs a transaction again after a real serialization failure, and commits it', async () => {
    await writeSkew();
    let retries = 0;
    let blocker: Promise<unknown> | undefined;
    const result = await runSerializable(
      knex,
      { maxAttempts: 5, baseDelayMs: 1, onRetry: () => retries++ },
      async (trx) => {
        await trx.raw('SELECT sum(v) FROM skew');
        if (!blocker) {
          // Another transaction reads the same rows, writes row 2 and commits while this one is open.
          blocker = knex.transaction(
            async (other) => {
              await other.raw('SELECT sum(v) FROM skew');
              await other.raw('UPDATE skew SET v = v + 1 WHERE id = 2');
            },
            { isolationLevel: 'serializable' },
          );
          await blocker;
        }
        await trx.raw('UPDATE skew SET v = v + 1 WHERE id = 1');
        return 'committed';
      },
    );
    expect(result).toEqual({ value: 'committed', retries: 1 });
    expect(retries).toBe(1);
    const { rows } = await knex.raw<{ rows: Array<{ v: number }> }>(
      'SELECT v FROM skew ORDER BY id',
    );
    expect(rows.map((row) => row.v)).toEqual([1, 1]);
  });

  it('gives up after maxAttempts with a 503 whose cause is the last failure', async () => {
    let runs = 0;
    const failure = Object.assign(new Error('could not serialize access'), { code: '40001' });
    const outcome = await runSerializable(knex, { maxAttempts: 3, baseDelayMs: 1 }, async (trx) => {
      runs++;
      await trx.raw('SELECT 1');
      throw failure;
    }).catch((error: unknown) => error);
    expect(runs).toBe(3);
    expect(outcome).toBeInstanceOf(ServiceUnavailableError);
    expect((outcome as ServiceUnavailableError).cause).toBe(failure);
    expect((outcome as ServiceUnavailableError).headers).toEqual({ 'retry-after': '1' });
  });
});
