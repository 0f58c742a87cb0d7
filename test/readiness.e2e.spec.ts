import request from 'supertest';
import { applyMigrations } from '../src/database/knex-config';
import { startTestApp, TestApp } from './support/test-app';
import { createTestDatabase } from './support/test-database';

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
      details: { database: { status: 'down', reason: 'migrations pending', pending: 2 } },
    });
    await request(t.url).get('/health/live').expect(200);

    expect(await applyMigrations(t.db)).toEqual([
      '20261125000100_create_events_and_tickets',
      '20261125000200_create_idempotency_keys',
    ]);
    const ready = await request(t.url).get('/health/ready').expect(200);
    expect(ready.body).toMatchObject({ status: 'ok', details: { database: { status: 'up' } } });
  });
});
