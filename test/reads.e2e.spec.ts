import * as jose from 'jose';
import request from 'supertest';
import { toWireTimestamp } from '../src/common/time';
import { VIEW_FRESHNESS_MS } from '../src/events/event-views.cache';
import { OPEN_NOW, createEvent, issue } from './support/fixtures';
import { seenWithin } from './support/freshness';
import { servicesOnFreshDatabase } from './support/service-fixture';
import type { ServiceProcess } from './support/service-process';
import { startTestApp, TestApp } from './support/test-app';

const CACHEABLE = `public, max-age=${VIEW_FRESHNESS_MS / 1000}`;
const STRONG_ETAG = /^"[A-Za-z0-9_-]+"$/;

interface EventBody {
  remainingQuantity: number;
  todayIssuedCount: number;
  isActive: boolean;
}

/** Event reads from memory, in-process with a hand-moved clock: caching headers, the clock's edges. */
describe('event reads from memory', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ now: '2026-03-10T03:00:00Z' });
  });
  afterAll(() => t.close());
  beforeEach(() => t.clock.set('2026-03-10T03:00:00Z'));

  const read = (eventKey: string) => request(t.url).get(`/events/${eventKey}`);
  const running = async () =>
    ((await request(t.url).get('/events').expect(200)).body as Array<{ eventKey: string }>).map(
      (event) => event.eventKey,
    );

  it('sends Cache-Control with the stated freshness and a strong ETag; If-None-Match gets 304 until the view changes', async () => {
    const event = await createEvent(t.url, { totalQuantity: 10 });
    const first = await read(event.eventKey).expect(200);
    expect(first.headers['cache-control']).toBe(CACHEABLE);
    expect(first.headers['content-type']).toBe('application/json; charset=utf-8');
    const etag = first.headers.etag;
    expect(etag).toMatch(STRONG_ETAG);
    expect(first.body).toMatchObject({
      remainingQuantity: 10,
      todayIssuedCount: 0,
      isActive: true,
    });

    const notModified = await read(event.eventKey).set('If-None-Match', etag).expect(304);
    expect(notModified.text).toBe('');
    expect(notModified.headers.etag).toBe(etag);
    expect(notModified.headers['cache-control']).toBe(CACHEABLE);
    // A list of tags, or the weak form of ours, matches too (If-None-Match compares weakly).
    await read(event.eventKey).set('If-None-Match', `"other", W/${etag}`).expect(304);
    await read(event.eventKey).set('If-None-Match', '"other"').expect(200);

    // A ticket issued here is in the next read: new bytes, new tag.
    await issue(t.url, event.eventKey, 1).expect(201);
    const changed = await read(event.eventKey).set('If-None-Match', etag).expect(200);
    expect(changed.body).toMatchObject({ remainingQuantity: 9, todayIssuedCount: 1 });
    expect(changed.headers.etag).toMatch(STRONG_ETAG);
    expect(changed.headers.etag).not.toBe(etag);

    const list = await request(t.url).get('/events').expect(200);
    expect(list.headers['cache-control']).toBe(CACHEABLE);
    expect(list.headers.etag).toMatch(STRONG_ETAG);
    const listed = await request(t.url).get('/events').set('If-None-Match', list.headers.etag);
    expect(listed.status).toBe(304);
    expect(listed.text).toBe('');
  });

  it('answers an unknown event 404 as before, kept by no cache', async () => {
    const unknown = await read('no-such-event').expect(404);
    expect(unknown.body).toEqual({ statusCode: 404, message: '존재하지 않는 이벤트입니다.' });
    expect(unknown.headers['cache-control']).toBe('no-store');
    expect(unknown.headers.etag).toBeUndefined();
    // Not remembered as missing: created the next moment, it is there.
    const created = await createEvent(t.url, { eventKey: 'created-after-a-404' });
    expect(created.eventKey).toBe('created-after-a-404');
    await read('created-after-a-404').expect(200);
    expect((await read('bad key!').expect(400)).body.statusCode).toBe(400);
  });

  it("shows today's count reset at 00:00 KST, and the new day's tickets at once", async () => {
    t.clock.set('2026-03-10T14:59:00Z'); // 23:59 KST
    const event = await createEvent(t.url, { totalQuantity: 10 });
    await issue(t.url, event.eventKey, 1).expect(201);
    await issue(t.url, event.eventKey, 2).expect(201);
    expect((await read(event.eventKey).expect(200)).body).toMatchObject({
      remainingQuantity: 8,
      todayIssuedCount: 2,
    });

    t.clock.set('2026-03-10T15:00:00Z'); // 00:00 KST
    expect((await read(event.eventKey).expect(200)).body).toMatchObject({
      remainingQuantity: 8,
      todayIssuedCount: 0,
    });
    await issue(t.url, event.eventKey, 3).expect(201);
    expect((await read(event.eventKey).expect(200)).body).toMatchObject({
      remainingQuantity: 7,
      todayIssuedCount: 1,
    });

    // Sold out the same way: its new day is 0 too.
    t.clock.set('2026-03-11T14:59:59Z');
    const soldOut = await createEvent(t.url, { totalQuantity: 1 });
    await issue(t.url, soldOut.eventKey, 1).expect(201);
    expect((await read(soldOut.eventKey).expect(200)).body).toMatchObject({
      remainingQuantity: 0,
      todayIssuedCount: 1,
    });
    t.clock.set('2026-03-11T15:00:00Z');
    expect((await read(soldOut.eventKey).expect(200)).body).toMatchObject({
      remainingQuantity: 0,
      todayIssuedCount: 0,
    });
  });

  it('follows the clock at the period edges, and a PATCH here at once', async () => {
    const event = await createEvent(t.url, {
      startAt: '2026-03-10T03:00:10Z',
      endAt: '2026-03-10T03:01:00Z',
    });
    expect((await read(event.eventKey).expect(200)).body.isActive).toBe(false);
    expect(await running()).not.toContain(event.eventKey);

    t.clock.set('2026-03-10T03:00:10Z');
    expect((await read(event.eventKey).expect(200)).body.isActive).toBe(true);
    expect(await running()).toContain(event.eventKey);

    await request(t.url).patch(`/events/${event.eventKey}`).send({ isActive: false }).expect(200);
    expect((await read(event.eventKey).expect(200)).body.isActive).toBe(false);
    expect(await running()).not.toContain(event.eventKey);
    await request(t.url).patch(`/events/${event.eventKey}`).send({ isActive: true }).expect(200);
    expect((await read(event.eventKey).expect(200)).body.isActive).toBe(true);
    expect(await running()).toContain(event.eventKey);

    t.clock.set('2026-03-10T03:01:00.999Z'); // the last second of the period, inclusive
    expect((await read(event.eventKey).expect(200)).body.isActive).toBe(true);
    t.clock.set('2026-03-10T03:01:01Z');
    expect((await read(event.eventKey).expect(200)).body.isActive).toBe(false);
    expect(await running()).not.toContain(event.eventKey);
  });

  it("answers a user's tickets byte for byte as the ORM path did, private and never stored", async () => {
    const names = ['따옴표 "quoted" \\ 백슬래시', '이모지 🎟️ / 슬래시', 'plain'];
    const events = [];
    for (const name of names) events.push(await createEvent(t.url, { name }));
    // Fractions of a second are truncated on the wire; two tickets in one millisecond order by id.
    t.clock.set('2026-03-10T03:00:00.999Z');
    await issue(t.url, events[0].eventKey, 77).expect(201);
    await issue(t.url, events[1].eventKey, 77).expect(201);
    t.clock.set('2026-03-10T03:00:01.500Z');
    await issue(t.url, events[2].eventKey, 77).expect(201);

    // The path before: the ORM's rows, toWireTimestamp, JSON.stringify (what Fastify serialized).
    const rows: Array<{ ticketId: string; eventKey: string; eventName: string; issuedAt: Date }> =
      await t
        .db('tickets as t')
        .join('events as e', 'e.id', 't.eventId')
        .where('t.userId', 77)
        .orderBy([
          { column: 't.issuedAt', order: 'desc' },
          { column: 't.id', order: 'desc' },
        ])
        .select('t.id as ticketId', 'e.eventKey', 'e.name as eventName', 't.issuedAt');
    const before = JSON.stringify(
      rows.map((row) => ({ ...row, issuedAt: toWireTimestamp(row.issuedAt) })),
    );

    const answer = await request(t.url).get('/users/77/tickets').expect(200);
    expect(answer.text).toBe(before);
    expect(answer.body[2].issuedAt).toBe('2026-03-10T03:00:00Z');
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.headers['cache-control']).toBe('private, no-store');
    const none = await request(t.url).get('/users/78/tickets').expect(200);
    expect(none.text).toBe('[]');
    expect(none.headers['cache-control']).toBe('private, no-store');

    // Users asking at once are answered by one query together: each still gets exactly their own.
    await issue(t.url, events[2].eventKey, 79).expect(201);
    const one = (await request(t.url).get('/users/79/tickets').expect(200)).text;
    const together = await Promise.all(
      [77, 78, 79, 77, 80, 79].map((userId) => request(t.url).get(`/users/${userId}/tickets`)),
    );
    expect(together.map((r) => r.text)).toEqual([before, '[]', one, before, '[]', one]);
  });
});

describe("a user's tickets with end-user tokens on", () => {
  const secret = 'a-shared-hs256-secret-of-32-bytes-at-least';
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { USER_JWT_SECRET: secret, THROTTLE_IP_LIMIT: undefined } });
  });
  afterAll(() => t.close());

  it('is never cacheable by a shared cache', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await new jose.SignJWT({ iat: now, exp: now + 600, sub: '42' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secret));
    const answer = await request(t.url)
      .get('/users/42/tickets')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    expect(answer.headers['cache-control']).toBe('private, no-store');
    expect(answer.headers.etag).toBeUndefined();
  });
});

/** Two production processes on one database: what one does reaches the other's reads in time. */
describe('event reads across processes', () => {
  const services = servicesOnFreshDatabase();
  let a: ServiceProcess;
  let b: ServiceProcess;

  beforeAll(async () => {
    [a, b] = await Promise.all([services.start(), services.start()]);
  });

  const readOn = async (service: ServiceProcess, eventKey: string) => {
    const answer = await request(service.url).get(`/events/${eventKey}`).expect(200);
    expect(answer.headers['cache-control']).toBe(CACHEABLE);
    return answer.body as EventBody;
  };

  /** Reads until `read` holds, within the stated freshness plus the slack measured (freshness.ts). */
  const within = (read: () => Promise<boolean>, since: number) =>
    seenWithin(VIEW_FRESHNESS_MS, read, since);

  it('tickets issued on one process show on the other within the stated freshness', async () => {
    const event = await createEvent(a.url, { totalQuantity: 100, dailyLimit: 50, ...OPEN_NOW });
    expect(await readOn(b, event.eventKey)).toMatchObject({ remainingQuantity: 100 });
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => issue(a.url, event.eventKey, i + 1).expect(201)),
    );
    const committed = Date.now();
    const seen = await within(async () => {
      const view = await readOn(b, event.eventKey);
      return view.remainingQuantity === 90 && view.todayIssuedCount === 10;
    }, committed);
    expect(await readOn(b, event.eventKey)).toMatchObject({
      remainingQuantity: 90,
      todayIssuedCount: 10,
    });
    expect(seen.elapsed).toBeLessThanOrEqual(seen.bound);
  });

  it('a switch on one process shows on the other’s page and list within the stated freshness', async () => {
    const event = await createEvent(a.url, OPEN_NOW);
    expect(await readOn(b, event.eventKey)).toMatchObject({ isActive: true });
    const listedOn = async (service: ServiceProcess) =>
      ((await request(service.url).get('/events').expect(200)).body as Array<{ eventKey: string }>)
        .map((listed) => listed.eventKey)
        .includes(event.eventKey);
    expect(await listedOn(b)).toBe(true);

    await request(a.url).patch(`/events/${event.eventKey}`).send({ isActive: false }).expect(200);
    const switched = Date.now();
    const page = await within(async () => !(await readOn(b, event.eventKey)).isActive, switched);
    const list = await within(async () => !(await listedOn(b)), switched);
    expect(await readOn(b, event.eventKey)).toMatchObject({ isActive: false });
    expect(await listedOn(b)).toBe(false);
    expect(page.elapsed).toBeLessThanOrEqual(page.bound);
    expect(list.elapsed).toBeLessThanOrEqual(list.bound);
  });

  it('sold out is exact at once on every process that has seen it', async () => {
    const event = await createEvent(a.url, { totalQuantity: 5, ...OPEN_NOW });
    expect(await readOn(b, event.eventKey)).toMatchObject({ remainingQuantity: 5 });
    await Promise.all(
      Array.from({ length: 5 }, (_, i) => issue(a.url, event.eventKey, i + 1).expect(201)),
    );
    expect((await readOn(a, event.eventKey)).remainingQuantity).toBe(0);
    // b sees it sold out by asking for a ticket: from then on its page says so, without waiting.
    await issue(b.url, event.eventKey, 99).expect(409);
    expect(await readOn(b, event.eventKey)).toMatchObject({
      remainingQuantity: 0,
      todayIssuedCount: 5,
    });
  });
});
