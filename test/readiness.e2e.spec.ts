import { MIGRATION_NAMES } from '../migrations';
import type { Knex } from 'knex';
import request from 'supertest';
import { KNEX } from '../src/database/database.module';
import { applyMigrations } from '../src/database/knex-config';
import { startTestApp, TestApp } from './support/test-app';
import { connect, createTestDatabase } from './support/test-database';
import { createEvent } from './support/fixtures';

/** Readiness is about the database: reachable and migrated. */
describe('readiness and migrations', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let t: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase(false);
    t = await startTestApp({ databaseUrl: database.url, env: { MIGRATE_ON_START: 'false' } });
  });
  afterAll(async () => {
    await t.close();
    await database.drop();
  });

  it('is not ready while migrations are pending, and is once they are applied', async () => {
    const pending = await request(t.url).get('/health/ready');
    expect(pending.status).toBe(503);
    expect(pending.body).toMatchObject({
      statusCode: 503,
      details: {
        database: { status: 'down', reason: 'migrations pending', pending: MIGRATION_NAMES.length },
      },
    });
    await request(t.url).get('/health/live').expect(200);

    expect(await applyMigrations(t.db)).toEqual(MIGRATION_NAMES);
    const ready = await request(t.url).get('/health/ready').expect(200);
    expect(ready.body).toMatchObject({ status: 'ok', details: { database: { status: 'up' } } });
  });

  it('migrates an empty database once when many instances start at the same moment', async () => {
    const empty = await createTestDatabase(false);
    const instances = Array.from({ length: 6 }, () => connect(empty.url));
    try {
      const applied = await Promise.all(instances.map((knex) => applyMigrations(knex)));
      expect(applied.flat()).toEqual(MIGRATION_NAMES);
      expect(await instances[0]('knex_migrations').count({ n: '*' })).toEqual([
        { n: MIGRATION_NAMES.length },
      ]);
    } finally {
      await Promise.all(instances.map((knex) => knex.destroy()));
      await empty.drop();
    }
  });
});

/** An advisory lock key of the test's own (the service's namespaces are small constants). */
const HELD_LOCK = [987_654, 1];

/** Readiness means "can serve": a pool saturated by a peak of reads is serving, not unready. */
describe('readiness at the peak', () => {
  let t: TestApp;

  beforeAll(async () => {
    // The reads wait for the pool as long as it takes: how long depends on the machine's load, and a read
    // refused for waiting (503 after DB_ACQUIRE_TIMEOUT_MS) is not what this test is about.
    t = await startTestApp({ env: { DB_POOL_MAX: '3', DB_ACQUIRE_TIMEOUT_MS: '60000' } });
  });
  afterAll(() => t.close());

  it('stays 200 while a hundred concurrent reads queue for a small pool', async () => {
    const event = await createEvent(t.url);
    const knex = t.app.get<Knex>(KNEX);
    const pool = knex.client.pool as { numPendingAcquires(): number };
    // Every pooled connection is busy until the test lets go (it holds the lock they wait for: a sleep of
    // fixed length ended before the probes did on a busy machine), and 100 reads queue behind them.
    const holder = await t.db.transaction();
    await holder.raw('SELECT pg_advisory_xact_lock(?, ?)', HELD_LOCK);
    const busy = Array.from({ length: 3 }, () =>
      knex.raw('SELECT pg_advisory_xact_lock(?, ?)', HELD_LOCK).then((result) => result),
    );
    // Sent now (a supertest request goes out when awaited), so the probes meet the queue. Each reads an
    // event of its own: reads of one event share one query (the event views in memory).
    const reads = Array.from({ length: 100 }, (_, i) =>
      request(t.url)
        .get(i === 0 ? `/events/${event.eventKey}` : `/events/not-created-${i}`)
        .then((response) => response),
    );
    try {
      while (pool.numPendingAcquires() <= 12)
        await new Promise((resolve) => setTimeout(resolve, 5));
      const probes = await Promise.all(
        Array.from({ length: 4 }, () => request(t.url).get('/health/ready')),
      );
      // The old readiness said 503 once four times the pool was waiting; the pool is still saturated.
      expect(pool.numPendingAcquires()).toBeGreaterThan(12);
      expect(probes.map((p) => p.status)).toEqual([200, 200, 200, 200]);
      expect(probes[0].body).toMatchObject({
        status: 'ok',
        details: { database: { status: 'up' } },
      });
    } finally {
      await holder.commit();
    }
    await Promise.all(busy);
    const answered = await Promise.all(reads);
    expect(answered.map((r) => r.status)).toEqual([200, ...Array<number>(99).fill(404)]);
  });
});
