import { randomUUID } from 'node:crypto';
import { parseExposition, valueOf } from './support/exposition';
import { OPEN_NOW } from './support/fixtures';
import { RedisServer, startRedisServer } from './support/redis-server';
import { ServiceProcess, startService, waitUntil, waitUntilReady } from './support/service-process';
import { connect, createTestDatabase } from './support/test-database';

interface Answer {
  status: number;
  retryAfter: number;
  ticketId?: string;
}

/**
 * The line across instances of the production build: two processes on one database, the test as the one
 * proxy in front of them (X-Forwarded-For, TRUST_PROXY=1). With Redis, one script hands out every place:
 * one order per address whichever instance a request reaches, and a refused request keeps its place when
 * resent to the other one. With Redis stopped, each instance keeps its own order, and a resend to the
 * other instance starts afresh there; nothing fails. Two places every 3 s per address, two at once, up
 * to 10 s waited for: places 1.5 s apart, so a request released at its place is at the batcher well
 * before the next one.
 */
describe('the per-address line across two instances (Redis, then Redis stopped)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let redis: RedisServer;
  let instances: ServiceProcess[];

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = await startRedisServer();
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      THROTTLE_KEY_PREFIX: `line-${randomUUID()}`,
      TRUST_PROXY: '1',
      THROTTLE_IP_LIMIT: '2',
      THROTTLE_IP_TTL_MS: '3000',
      THROTTLE_IP_MAX_DELAY_MS: '10000',
      THROTTLE_USER_LIMIT: '3',
      THROTTLE_USER_TTL_MS: '60000',
    };
    instances = await Promise.all([startService(env), startService(env)]);
    await Promise.all(instances.map((instance) => waitUntilReady(instance)));
  });
  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    await redis.kill();
    await database.drop();
  });

  async function event(totalQuantity: number): Promise<string> {
    const eventKey = `line-${randomUUID()}`;
    const created = await fetch(`${instances[0].url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ eventKey, name: '줄 서기', totalQuantity, ...OPEN_NOW }),
    });
    expect(created.status).toBe(201);
    return eventKey;
  }

  async function ask(instance: number, eventKey: string, address: string, userId: number) {
    const response = await fetch(`${instances[instance].url}/events/${eventKey}/tickets`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-forwarded-for': address,
        'idempotency-key': `${eventKey}-${userId}`,
      },
      body: JSON.stringify({ userId }),
    });
    const body = (await response.json()) as { ticketId?: string };
    return {
      status: response.status,
      retryAfter: Number(response.headers.get('retry-after') ?? 0),
      ticketId: body.ticketId,
    } satisfies Answer;
  }

  async function counter(instance: number, name: string, labels: Record<string, string>) {
    const text = await (await fetch(`${instances[instance].url}/metrics`)).text();
    return valueOf(parseExposition(text), name, labels);
  }
  const deferred = (instance: number) =>
    counter(instance, 'golden_ticket_deferred_requests_total', { scope: 'ip' });
  const throttled = async (scope: string) =>
    (await counter(0, 'golden_ticket_throttled_requests_total', { scope })) +
    (await counter(1, 'golden_ticket_throttled_requests_total', { scope }));

  /**
   * Sends, and returns once the instance has taken it — answered, or counted as deferred — so the next one
   * arrives after it: the test fixes the arrival order. `answer` settles when it is answered.
   */
  async function arrive(
    instance: number,
    eventKey: string,
    address: string,
    userId: number,
  ): Promise<{ answer: Promise<Answer> }> {
    const before = await deferred(instance);
    let answered = false;
    const answer = ask(instance, eventKey, address, userId).finally(() => (answered = true));
    await waitUntil(
      async () => answered || (await deferred(instance)) > before,
      30_000,
      () => `user ${userId} was neither answered nor deferred`,
    );
    return { answer };
  }

  /** What an app does with a 429: waits the Retry-After it was told, then sends again. */
  async function resendAfter(answer: Answer, resend: () => Promise<Answer>): Promise<Answer> {
    await new Promise((resolve) => setTimeout(resolve, answer.retryAfter * 1_000));
    return resend();
  }

  async function holders(eventKey: string): Promise<number[]> {
    const db = connect(database.url);
    try {
      const rows: Array<{ userId: number }> = await db('tickets')
        .join('events', 'events.id', 'tickets.eventId')
        .where('events.eventKey', eventKey)
        .orderBy('tickets.userId')
        .select('tickets.userId');
      return rows.map((row) => row.userId);
    } finally {
      await db.destroy();
    }
  }

  it('keeps one order per address over both instances: the first arrivals win, none refused within the bound', async () => {
    const eventKey = await event(5);
    const address = '198.51.100.20';
    const answers: Array<Promise<Answer>> = [];
    // Users 1-8 one after another, alternately on each instance: places 0, 0, 1.5, 3, … 9 s.
    for (let userId = 1; userId <= 8; userId++) {
      answers.push((await arrive(userId % 2, eventKey, address, userId)).answer);
    }
    const statuses = (await Promise.all(answers)).map((answer) => answer.status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 409, 409, 409]);
    expect(await holders(eventKey)).toEqual([1, 2, 3, 4, 5]);
    // The held requests' lines say how long they waited.
    const waited = instances.flatMap((instance) =>
      instance
        .logs()
        .filter((entry) => entry.msg === 'request completed' && entry.deferredMs !== undefined),
    );
    expect(waited.length).toBe((await deferred(0)) + (await deferred(1)));
    expect(waited.length).toBeGreaterThan(0);
    for (const entry of waited) expect(entry.deferredMs).toBeGreaterThan(0);
  });

  it('keeps the place of a request refused on one instance when it is resent to the other, ahead of a fresh arrival there', async () => {
    const eventKey = await event(11);
    const address = '198.51.100.21';
    // Ten at once on instance 0: 2 at once, 6 held (places to 9 s), 2 refused (10.5 s, 12 s).
    const deferredBefore = await deferred(0);
    const answered: Answer[] = [];
    const crowd = Array.from({ length: 10 }, (_, i) =>
      ask(0, eventKey, address, 100 + i).then((answer) => {
        answered.push(answer);
        return answer;
      }),
    );
    await waitUntil(
      async () => answered.length === 4 && (await deferred(0)) - deferredBefore === 6,
      30_000,
      () => `the crowd was not taken (${answered.length} answered)`,
    );
    const refused = await ask(0, eventKey, address, 200);
    const fresh = await ask(1, eventKey, address, 201);
    expect([refused.status, fresh.status]).toEqual([429, 429]);
    expect(fresh.retryAfter).toBeGreaterThan(refused.retryAfter);
    // Resent at once to the other instance: the same place, told again (never later than before).
    const early = await ask(1, eventKey, address, 200);
    expect(early.status).toBe(429);
    expect(early.retryAfter).toBeLessThanOrEqual(refused.retryAfter);
    expect(early.retryAfter).toBeLessThan(fresh.retryAfter);

    // Every client does as told: back after Retry-After, the same key, each to the other instance.
    const final = await Promise.all([
      ...crowd.map(async (first, i) => {
        const answer = await first;
        return answer.status === 429
          ? resendAfter(answer, () => ask(1, eventKey, address, 100 + i))
          : answer;
      }),
      resendAfter(early, () => ask(0, eventKey, address, 200)),
      resendAfter(fresh, () => ask(0, eventKey, address, 201)),
    ]);
    expect(final.map((answer) => answer.status)).toEqual([...Array(11).fill(201), 409]);
    expect(await holders(eventKey)).toEqual([
      ...Array.from({ length: 10 }, (_, i) => 100 + i),
      200,
    ]);
  });

  it('lets a client looping under one userId through the line on its place, and refuses it by the per-user budget shared over both', async () => {
    const eventKey = await event(5);
    const [userBefore, ipBefore] = [await throttled('user'), await throttled('ip')];
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await ask(i % 2, eventKey, '198.51.100.22', 300)).status);
    }
    // Two at once, then a place 1.5 s away that its later requests share: three within its budget of 3
    // (the same key: the first answer again), then refused.
    expect(statuses).toEqual([201, 201, 201, 429, 429, 429]);
    expect((await throttled('user')) - userBefore).toBe(3);
    expect((await throttled('ip')) - ipBefore).toBe(0);
    expect(await holders(eventKey)).toEqual([300]);
  });

  it('with Redis stopped, keeps an order per instance — going on from the shared line for what it saw — a resend to the other instance starting afresh there; never a 5xx', async () => {
    // Before: a line on instance 0 through Redis, and a request it refused.
    const before = await event(20);
    const beforeAddress = '198.51.100.25';
    const deferredEarlier = await deferred(0);
    const held = Promise.all(
      Array.from({ length: 10 }, (_, i) => ask(0, before, beforeAddress, 700 + i)),
    );
    await waitUntil(
      async () => (await deferred(0)) - deferredEarlier === 6,
      30_000,
      () => 'the line on instance 0 did not form',
    );
    const refusedBefore = await ask(0, before, beforeAddress, 800);
    expect(refusedBefore.status).toBe(429);

    await redis.kill();
    const warned = () =>
      instances.every((instance) =>
        instance
          .logs()
          .some((entry) => entry.level === 40 && String(entry.msg).startsWith('Redis unreachable')),
      );
    await waitUntil(
      () => Promise.resolve(warned()),
      15_000,
      () => 'the instances did not see Redis go',
    );
    // Instance 0's own line followed Redis's: the refused request resent there keeps its place, ahead of a
    // fresh arrival, which comes behind the line as it was.
    const resentAfter = await ask(0, before, beforeAddress, 800);
    const freshAfter = await ask(0, before, beforeAddress, 801);
    expect([resentAfter.status, freshAfter.status]).toEqual([429, 429]);
    expect(resentAfter.retryAfter).toBeLessThanOrEqual(refusedBefore.retryAfter);
    expect(freshAfter.retryAfter).toBeGreaterThan(resentAfter.retryAfter);
    expect((await held).filter((answer) => answer.status >= 500)).toEqual([]);

    const eventKey = await event(6);
    const address = '198.51.100.23';
    const answers: Array<Promise<Answer>> = [];
    // Alternately: each instance's own line gives 2 at once, then places 1.5 s apart.
    for (let userId = 1; userId <= 8; userId++) {
      answers.push((await arrive(userId % 2, eventKey, address, 400 + userId)).answer);
    }
    const statuses = (await Promise.all(answers)).map((answer) => answer.status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 201, 409, 409]);
    expect(await holders(eventKey)).toEqual([401, 402, 403, 404, 405, 406]);

    // A long line on instance 0 only: refused there, its resend to instance 1 finds that line idle.
    const other = await event(20);
    const deferredBefore = await deferred(0);
    const crowd = Promise.all(
      Array.from({ length: 10 }, (_, i) => ask(0, other, '198.51.100.24', 500 + i)),
    );
    await waitUntil(
      async () => (await deferred(0)) - deferredBefore === 6,
      30_000,
      () => 'the crowd did not wait on instance 0',
    );
    const refused = await ask(0, other, '198.51.100.24', 600);
    expect(refused.status).toBe(429);
    expect((await ask(1, other, '198.51.100.24', 600)).status).toBe(201);
    const everything = [...statuses, ...(await crowd).map((answer) => answer.status)];
    expect(everything.filter((status) => status >= 500)).toEqual([]);
    for (const instance of instances) {
      expect(instance.logs()).toHaveLength(instance.lines.length);
      expect(instance.logs().filter((entry) => Number(entry.level) >= 50)).toEqual([]);
    }
  });
});
