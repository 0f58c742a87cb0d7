import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { startTestApp, TestApp } from './support/test-app';
import { createEvent, issue } from './support/fixtures';

const TOO_MANY = { statusCode: 429, message: '요청이 너무 많습니다. 잠시 후 다시 시도해주세요.' };

describe('surge throttling', () => {
  describe('per client IP', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp({ env: { THROTTLE_IP_LIMIT: '5', THROTTLE_IP_TTL_MS: '1000' } });
    });
    afterAll(() => t.close());

    it('refuses the request over the limit with 429, Retry-After and the error shape, then resets', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await request(t.url).get('/events')).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200]);

      const refused = await request(t.url).get('/events/anything');
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual(TOO_MANY);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);

      // The two health probes are never throttled; other paths that merely start like them are.
      for (let i = 0; i < 10; i++) await request(t.url).get('/health/live').expect(200);
      for (let i = 0; i < 10; i++) await request(t.url).get('/health/ready').expect(200);
      await request(t.url).get('/healthz').expect(429);

      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await request(t.url).get('/events').expect(200);
    });

    it('sheds before any database work: a throttled POST stores nothing', async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const responses = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          issue(t.url, 'no-such-event', i + 1, `throttled-${i}`),
        ),
      );
      const refused = responses.filter((r) => r.status === 429);
      expect(refused.length).toBeGreaterThanOrEqual(7);
      expect(responses.filter((r) => r.status === 404).length).toBe(12 - refused.length);
      expect(await t.db('idempotencyKeys')).toHaveLength(12 - refused.length);
    });
  });

  describe.each([
    ['a hop count', '1'],
    ['the proxy addresses', '127.0.0.1/8, ::1'],
  ])('behind one proxy, trusted by %s (TRUST_PROXY=%s)', (_, trustProxy) => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp({ env: { TRUST_PROXY: trustProxy, THROTTLE_IP_LIMIT: '3' } });
    });
    afterAll(() => t.close());

    // The test stands for the proxy: it connects from 127.0.0.1 and appends the client it saw.
    const viaProxy = (forged: string, client: string) =>
      request(t.url).get('/events').set('X-Forwarded-For', `${forged}, ${client}`);

    it('counts a client that forges the leftmost address against its one real budget', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        statuses.push((await viaProxy(`10.9.8.${i}`, '203.0.113.7')).status);
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      // Another client behind the same proxy has a budget of its own.
      await viaProxy('10.9.8.1', '203.0.113.8').expect(200);
    });
  });

  describe('per userId on ticket issuance', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp({ env: { THROTTLE_USER_LIMIT: '2', THROTTLE_USER_TTL_MS: '60000' } });
    });
    afterAll(() => t.close());

    it('gives each user a budget of its own', async () => {
      const event = await createEvent(t.url);
      await issue(t.url, event.eventKey, 1).expect(201);
      await issue(t.url, event.eventKey, 1).expect(200);
      const refused = await issue(t.url, event.eventKey, 1).expect(429);
      expect(refused.body).toEqual(TOO_MANY);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(1);
      await issue(t.url, event.eventKey, 2).expect(201);
      // Reads are not under the issuance budget.
      await request(t.url).get('/users/1/tickets').expect(200);
    });
  });

  describe('shared through Redis by two instances', () => {
    let a: TestApp;
    let b: TestApp;

    beforeAll(async () => {
      const env = {
        REDIS_URL: 'redis://127.0.0.1:6379',
        THROTTLE_KEY_PREFIX: `test-${randomUUID()}`,
        THROTTLE_IP_LIMIT: '4',
        THROTTLE_IP_TTL_MS: '10000',
      };
      a = await startTestApp({ env });
      b = await startTestApp({ env, databaseUrl: a.databaseUrl });
    });
    afterAll(async () => {
      await b.close();
      await a.close();
    });

    it('spends one budget across instances', async () => {
      await request(a.url).get('/events').expect(200);
      await request(b.url).get('/events').expect(200);
      await request(a.url).get('/events').expect(200);
      await request(b.url).get('/events').expect(200);
      await request(a.url).get('/events').expect(429);
      await request(b.url).get('/events').expect(429);
    });
  });
});
