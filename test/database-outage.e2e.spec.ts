import request from 'supertest';
import { ControlledPostgres, startControlledPostgres } from './support/embedded-server';
import { STUCK_AFTER_MS } from './support/service-process';
import { startTestApp, TestApp } from './support/test-app';
import { createEvent, issue } from './support/fixtures';

const UNAVAILABLE = {
  statusCode: 503,
  message: '일시적으로 요청을 처리할 수 없습니다. 잠시 후 다시 시도해주세요.',
};

/** The database goes away for a moment: the API answers 503 quickly, then recovers by itself. */
describe('database outage', () => {
  let server: ControlledPostgres;
  let t: TestApp;

  beforeAll(async () => {
    server = await startControlledPostgres('outage_test');
    t = await startTestApp({
      databaseUrl: server.url,
      env: { DB_ACQUIRE_TIMEOUT_MS: '1000', DB_STATEMENT_TIMEOUT_MS: '1000' },
    });
  });
  afterAll(async () => {
    await t.close();
    await server.remove();
  });

  async function waitUntilReady(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = (await request(t.url).get('/health/ready')).status;
      if (status === 200 || Date.now() > deadline) return status;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it('turns readiness and issuance to 503 while down, and loses or doubles nothing', async () => {
    const event = await createEvent(t.url, { totalQuantity: 100 });
    const before = await Promise.all([1, 2, 3].map((u) => issue(t.url, event.eventKey, u)));
    expect(before.map((r) => r.status)).toEqual([201, 201, 201]);
    await request(t.url).get('/health/ready').expect(200);

    await server.stop();

    // A probe that found the database well stands for a second; readiness turns 503 after that.
    let ready = await request(t.url).get('/health/ready');
    for (let i = 0; i < 30 && ready.status === 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await request(t.url).get('/health/ready');
    }
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({
      statusCode: 503,
      details: { database: { status: 'down' } },
    });
    await request(t.url).get('/health/live').expect(200);

    const startedAt = Date.now();
    const during = await Promise.all(
      [3, 4, 5, 6].map((u) => issue(t.url, event.eventKey, u, `outage-${u}`)),
    );
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    for (const response of during) {
      expect(response.status).toBe(503);
      expect(response.body).toEqual(UNAVAILABLE);
    }
    expect((await request(t.url).get(`/events/${event.eventKey}`)).status).toBe(503);

    await server.start();
    expect(await waitUntilReady(STUCK_AFTER_MS)).toBe(200);

    // The same retransmissions now succeed (the 503s were not stored against their keys).
    const after = await Promise.all(
      [3, 4, 5, 6].map((u) => issue(t.url, event.eventKey, u, `outage-${u}`)),
    );
    expect(after.map((r) => r.status)).toEqual([200, 201, 201, 201]);
    expect(after[0].body.ticketId).toBe(before[2].body.ticketId);

    const tickets = await t.db('tickets').orderBy('userId').select('userId');
    expect(tickets.map((row: { userId: number }) => row.userId)).toEqual([1, 2, 3, 4, 5, 6]);
    const stored = await t.db('events').where('eventKey', event.eventKey).first();
    expect(stored.issuedCount).toBe(6);
  });
});
