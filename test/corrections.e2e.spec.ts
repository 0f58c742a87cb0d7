import request from 'supertest';
import { VIEW_FRESHNESS_MS } from '../src/events/event-views.cache';
import { OPEN_NOW, all, createEvent, dailyCountsOf, issue } from './support/fixtures';
import { servicesOnFreshDatabase } from './support/service-fixture';
import { STUCK_AFTER_MS, ServiceProcess, waitUntil } from './support/service-process';
import { snapshotDatabase } from './support/snapshot';
import { startTestApp, TestApp } from './support/test-app';

const SOLD_OUT = { statusCode: 409, message: '티켓이 모두 소진되었습니다.' };
const CAPPED = {
  statusCode: 409,
  message: '오늘의 발급 한도에 도달했습니다. 내일 다시 시도해주세요.',
};
const OUTSIDE = { statusCode: 400, message: '이벤트 기간이 아닙니다.' };

/** The rules of a correction, in-process with a hand-moved clock (12:00 KST on 2026-03-10). */
describe('correcting an event (PATCH)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ now: '2026-03-10T03:00:00Z' });
  });
  afterAll(() => t.close());
  beforeEach(() => t.clock.set('2026-03-10T03:00:00Z'));

  const patch = (eventKey: string, body: object) =>
    request(t.url).patch(`/events/${eventKey}`).send(body);
  const read = async (eventKey: string) =>
    (await request(t.url).get(`/events/${eventKey}`).expect(200)).body as Record<string, unknown>;
  const rowOf = (eventKey: string) => t.db('events').where({ eventKey }).first();

  /** A refused correction: its status and message, and nothing changed. */
  async function expectRefused(eventKey: string, body: object, status: number, says: string) {
    const before = await snapshotDatabase(t.db);
    const response = await patch(eventKey, body);
    expect([response.status, response.body]).toEqual([
      status,
      { statusCode: status, message: expect.stringContaining(says) },
    ]);
    expect(await snapshotDatabase(t.db)).toEqual(before);
  }

  describe('before the event opens', () => {
    it('changes anything, and the reads follow at once', async () => {
      const event = await createEvent(t.url, {
        name: '오타',
        totalQuantity: 10,
        dailyLimit: 5,
        startAt: '2026-03-11T00:00:00Z',
        endAt: '2026-03-12T00:00:00Z',
      });
      expect(await read(event.eventKey)).toMatchObject({ name: '오타', isActive: false });
      const corrected = await patch(event.eventKey, {
        name: '고친 이름',
        totalQuantity: 1000,
        dailyLimit: null,
        startAt: '2026-03-10T02:00:00Z',
        endAt: '2026-03-20T00:00:00+09:00',
      }).expect(200);
      const view = {
        eventKey: event.eventKey,
        name: '고친 이름',
        totalQuantity: 1000,
        dailyLimit: null,
        remainingQuantity: 1000,
        todayIssuedCount: 0,
        startAt: '2026-03-10T02:00:00Z',
        endAt: '2026-03-19T15:00:00Z',
        // Opened by the correction: now is inside the new period.
        isActive: true,
      };
      expect(corrected.body).toEqual(view);
      expect(await read(event.eventKey)).toEqual(view);
      expect(await rowOf(event.eventKey)).toMatchObject({ totalQuantity: 1000, dailyLimit: null });
      await issue(t.url, event.eventKey, 1).expect(201);
    });

    it('checks the event as corrected as a creation is checked (400 naming the field)', async () => {
      const event = await createEvent(t.url, {
        totalQuantity: 10,
        startAt: '2026-03-11T00:00:00Z',
        endAt: '2026-03-12T00:00:00Z',
      });
      await expectRefused(event.eventKey, { startAt: '2026-03-12T00:00:00Z' }, 400, 'startAt은');
      await expectRefused(event.eventKey, { endAt: '2026-03-10T00:00:00Z' }, 400, 'startAt은');
      await expectRefused(
        event.eventKey,
        { dailyLimit: 11 },
        400,
        'dailyLimit은(는) totalQuantity',
      );
      await expectRefused(event.eventKey, { totalQuantity: 0 }, 400, 'totalQuantity');
      await expectRefused(
        event.eventKey,
        { startAt: '2026-03-01T00:00:00Z', endAt: '2026-03-10T03:00:00Z' },
        400,
        'endAt은(는) 지금보다 뒤여야',
      );
      await expectRefused(event.eventKey, { eventKey: 'renamed' }, 400, 'eventKey은(는) 바꿀 수');
      await patch(event.eventKey, { dailyLimit: 10 }).expect(200);
    });
  });

  describe('once the event is open', () => {
    it('renames and switches it at any time, and a field sent as it is changes nothing', async () => {
      const event = await createEvent(t.url, { totalQuantity: 2 });
      await issue(t.url, event.eventKey, 1).expect(201);
      await issue(t.url, event.eventKey, 2).expect(201);
      const unchanged = await patch(event.eventKey, {
        startAt: event.startAt,
        totalQuantity: 2,
      }).expect(200);
      expect(unchanged.body).toMatchObject({ remainingQuantity: 0, startAt: event.startAt });
      await patch(event.eventKey, { name: '새 이름', isActive: false }).expect(200);
      expect(await read(event.eventKey)).toMatchObject({ name: '새 이름', isActive: false });
      t.clock.set('2026-04-10T00:00:00Z'); // ended
      await patch(event.eventKey, { name: '끝난 이벤트' }).expect(200);
    });

    it('never lowers totalQuantity below the tickets issued; lowering it to them sells out', async () => {
      const event = await createEvent(t.url, { totalQuantity: 10 });
      await all([1, 2, 3].map((userId) => issue(t.url, event.eventKey, userId).expect(201)));
      await expectRefused(
        event.eventKey,
        { totalQuantity: 2 },
        409,
        'totalQuantity은(는) 이미 발급된 티켓 수(3장)보다 작을 수 없습니다.',
      );
      const soldOut = await patch(event.eventKey, { totalQuantity: 3 }).expect(200);
      expect(soldOut.body).toMatchObject({ totalQuantity: 3, remainingQuantity: 0 });
      expect((await issue(t.url, event.eventKey, 4).expect(409)).body).toEqual(SOLD_OUT);
      expect(await read(event.eventKey)).toMatchObject({ remainingQuantity: 0 });
      // Sold out is final: the sold-out answers already given stay true.
      await expectRefused(
        event.eventKey,
        { totalQuantity: 4 },
        409,
        '매진된 뒤에는 늘릴 수 없습니다',
      );
      // A holder still gets their ticket.
      await issue(t.url, event.eventKey, 1).expect(200);
    });

    it('raises totalQuantity while not sold out, and issuance goes on', async () => {
      const event = await createEvent(t.url, { totalQuantity: 2 });
      await issue(t.url, event.eventKey, 1).expect(201);
      await patch(event.eventKey, { totalQuantity: 3 }).expect(200);
      await issue(t.url, event.eventKey, 2).expect(201);
      await issue(t.url, event.eventKey, 3).expect(201);
      expect((await issue(t.url, event.eventKey, 4).expect(409)).body).toEqual(SOLD_OUT);
      expect(await rowOf(event.eventKey)).toMatchObject({ totalQuantity: 3, issuedCount: 3 });
    });

    it("keeps today's cap answered today true until 00:00 KST, and moves the day's cap in the database", async () => {
      const event = await createEvent(t.url, { totalQuantity: 100, dailyLimit: 3 });
      await all([1, 2].map((userId) => issue(t.url, event.eventKey, userId).expect(201)));
      await expectRefused(
        event.eventKey,
        { dailyLimit: 1 },
        409,
        'dailyLimit은(는) 오늘(KST) 발급된 티켓 수(2장)보다 작을 수 없습니다.',
      );
      // Not reached: raised, and the database takes today's third and fourth.
      await patch(event.eventKey, { dailyLimit: 4 }).expect(200);
      await all([3, 4].map((userId) => issue(t.url, event.eventKey, userId).expect(201)));
      expect((await issue(t.url, event.eventKey, 5).expect(409)).body).toEqual(CAPPED);
      // Reached: neither raised nor removed until the day is over.
      for (const dailyLimit of [5, null]) {
        await expectRefused(event.eventKey, { dailyLimit }, 409, '오늘의 한도에 도달한 뒤에는');
      }
      expect((await issue(t.url, event.eventKey, 5).expect(409)).body).toEqual(CAPPED);

      t.clock.set('2026-03-10T15:00:00Z'); // 00:00 KST
      await patch(event.eventKey, { dailyLimit: null }).expect(200);
      await all([5, 6, 7, 8, 9].map((userId) => issue(t.url, event.eventKey, userId).expect(201)));
      const days = await dailyCountsOf(t.db, event.eventKey);
      expect(days.map(({ issuedCount, dailyLimit }) => ({ issuedCount, dailyLimit }))).toEqual([
        { issuedCount: 4, dailyLimit: 4 },
        { issuedCount: 5, dailyLimit: null },
      ]);
    });

    it('fixes startAt; moves endAt while not ended, never to now or before; fixes it once ended', async () => {
      const event = await createEvent(t.url, {
        startAt: '2026-03-10T02:00:00Z',
        endAt: '2026-03-10T04:00:00Z',
      });
      await expectRefused(
        event.eventKey,
        { startAt: '2026-03-10T01:00:00Z' },
        409,
        'startAt은(는) 이벤트가 열린 뒤에는 바꿀 수 없습니다.',
      );
      await expectRefused(
        event.eventKey,
        { endAt: '2026-03-10T03:00:00Z' },
        400,
        '지금보다 뒤여야',
      );
      await patch(event.eventKey, { endAt: '2026-03-10T03:00:05Z' }).expect(200);
      t.clock.set('2026-03-10T03:00:05.900Z'); // the last second, inclusive
      await issue(t.url, event.eventKey, 1).expect(201);
      t.clock.set('2026-03-10T03:00:06Z');
      expect((await issue(t.url, event.eventKey, 2).expect(400)).body).toEqual(OUTSIDE);
      expect(await read(event.eventKey)).toMatchObject({ isActive: false });
      await expectRefused(
        event.eventKey,
        { endAt: '2026-03-31T00:00:00Z' },
        409,
        'endAt은(는) 이벤트가 끝난 뒤에는 바꿀 수 없습니다.',
      );
    });
  });

  it('keeps one answer per Idempotency-Key: a correction and a refused one are replayed', async () => {
    const event = await createEvent(t.url, { totalQuantity: 5 });
    await issue(t.url, event.eventKey, 1).expect(201);
    const send = (key: string, body: object) =>
      request(t.url).patch(`/events/${event.eventKey}`).set('Idempotency-Key', key).send(body);
    const first = await send(`correct-${event.eventKey}`, { totalQuantity: 4 }).expect(200);
    await issue(t.url, event.eventKey, 2).expect(201);
    const again = await send(`correct-${event.eventKey}`, { totalQuantity: 4 }).expect(200);
    expect(again.text).toBe(first.text);
    expect(again.headers['idempotent-replayed']).toBe('true');

    const refused = await send(`refused-${event.eventKey}`, { totalQuantity: 1 }).expect(409);
    const replayed = await send(`refused-${event.eventKey}`, { totalQuantity: 1 }).expect(409);
    expect(replayed.text).toBe(refused.text);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    // The answer is stored with the correction, in its transaction.
    const stored = await t
      .db('idempotencyKeys')
      .where('idempotencyKey', `correct-${event.eventKey}`)
      .first();
    expect([stored.responseStatus, stored.responseBody]).toEqual([200, first.text]);
  });

  it('is decided between issuance batches: a storm and a lowered total never disagree', async () => {
    const event = await createEvent(t.url, { totalQuantity: 200 });
    const storm = Array.from({ length: 300 }, (_, i) => issue(t.url, event.eventKey, i + 1));
    const correction = patch(event.eventKey, { totalQuantity: 60 });
    const [answers, corrected] = await Promise.all([all(storm), correction]);
    const row = await rowOf(event.eventKey);
    const tickets = await t.db('tickets').where('eventId', row.id).count({ n: '*' }).first();
    const issued = answers.filter((answer) => answer.status === 201).length;
    expect(Number(tickets!.n)).toBe(issued);
    expect(row.issuedCount).toBe(issued);
    expect(answers.every((answer) => [201, 409].includes(answer.status))).toBe(true);
    if (corrected.status === 200) {
      // Taken while at most 60 were issued: every batch after it saw 60.
      expect(row.totalQuantity).toBe(60);
      expect(issued).toBe(60);
    } else {
      // Refused because more than 60 were issued already, by the count it names.
      expect(corrected.status).toBe(409);
      const named = Number(/\((\d+)장\)/.exec(corrected.body.message as string)![1]);
      expect(named).toBeGreaterThan(60);
      expect(named).toBeLessThanOrEqual(issued);
      expect(row.totalQuantity).toBe(200);
    }
  });
});

/**
 * Polls `read` until `holds`, failing as soon as a read sent more than `freshnessMs` after `committedBy` (a
 * moment after the change was committed: its answer had arrived) does not: the promise is about every read
 * sent that late, so no slack for a busy machine is needed.
 */
async function followsWithin<T>(
  read: () => Promise<T>,
  holds: (value: T) => boolean,
  committedBy: number,
  freshnessMs: number,
): Promise<T> {
  for (;;) {
    const sentAt = Date.now();
    const value = await read();
    if (holds(value)) return value;
    if (sentAt > committedBy + freshnessMs) {
      throw new Error(
        `a read sent ${sentAt - committedBy} ms after the change (promised within ${freshnessMs} ms) ` +
          `did not show it: ${JSON.stringify(value)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The second within which a change on one instance is honoured by every other's memory paths. */
const STATED_FRESHNESS_MS = VIEW_FRESHNESS_MS;

/** Two production processes on one database: a correction on A is honoured by B's memory within the second. */
describe('a correction across instances', () => {
  const services = servicesOnFreshDatabase();
  let a: ServiceProcess;
  let b: ServiceProcess;

  beforeAll(async () => {
    [a, b] = await Promise.all([services.start(), services.start()]);
  });

  const readOn = async (service: ServiceProcess, eventKey: string) =>
    (await request(service.url).get(`/events/${eventKey}`).expect(200)).body as Record<
      string,
      unknown
    >;
  /** PATCH on `service`; resolves with when its answer arrived (the correction was committed before). */
  const correctOn = async (service: ServiceProcess, eventKey: string, body: object) => {
    const answer = await request(service.url).patch(`/events/${eventKey}`).send(body).expect(200);
    return { committedBy: Date.now(), view: answer.body as Record<string, unknown> };
  };

  it("shows on B's reads within the stated freshness, on A's at once, and is audited", async () => {
    const event = await createEvent(a.url, { totalQuantity: 100, ...OPEN_NOW });
    expect(await readOn(b, event.eventKey)).toMatchObject({ totalQuantity: 100 });
    const { committedBy, view } = await correctOn(a, event.eventKey, {
      name: '고친 이름',
      totalQuantity: 150,
      dailyLimit: 40,
    });
    expect(await readOn(a, event.eventKey)).toEqual(view);
    await followsWithin(
      () => readOn(b, event.eventKey),
      (seen) => JSON.stringify(seen) === JSON.stringify(view),
      committedBy,
      STATED_FRESHNESS_MS,
    );
    const audit = () =>
      a
        .logs()
        .find(
          (entry) =>
            entry.msg === 'event corrected' && JSON.stringify(entry.audit).includes(event.eventKey),
        );
    await waitUntil(
      () => Promise.resolve(audit() !== undefined),
      STUCK_AFTER_MS,
      () => 'no audit line',
    );
    expect(audit()!.audit).toEqual({
      action: 'correct',
      eventKey: event.eventKey,
      actor: 'gateway',
      client: '127.0.0.1',
      requestId: expect.any(String),
      changes: {
        name: { from: '골든 티켓 이벤트', to: '고친 이름' },
        totalQuantity: { from: 100, to: 150 },
        dailyLimit: { from: null, to: 40 },
      },
    });
  });

  it("moves B's refusals from memory with it, never contradicting the database after the second", async () => {
    // B settles today's cap and answers it from memory.
    const event = await createEvent(a.url, { totalQuantity: 10, dailyLimit: 2, ...OPEN_NOW });
    await issue(b.url, event.eventKey, 1).expect(201);
    await issue(b.url, event.eventKey, 2).expect(201);
    const settled = () =>
      b
        .logs()
        .some(
          (entry) =>
            String(entry.msg).startsWith("today's cap reached") &&
            entry.eventKey === event.eventKey,
        );
    await waitUntil(
      async () => {
        await issue(b.url, event.eventKey, 3).expect(409);
        return settled();
      },
      STUCK_AFTER_MS,
      () => 'B never answered the cap from memory',
    );
    expect((await issue(b.url, event.eventKey, 3)).body).toEqual(CAPPED);

    // On A, the total comes down to the tickets issued: the event is sold out, which is what B must say.
    const lowered = await correctOn(a, event.eventKey, { totalQuantity: 2 });
    expect((await issue(a.url, event.eventKey, 4)).body).toEqual(SOLD_OUT);
    let userId = 100;
    await followsWithin(
      async () => (await issue(b.url, event.eventKey, userId++)).body as unknown,
      (body) => JSON.stringify(body) === JSON.stringify(SOLD_OUT),
      lowered.committedBy,
      STATED_FRESHNESS_MS,
    );

    // Then its end comes forward to the next seconds: once past it, B says the period is over.
    const endAt = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2_000);
    const shortened = await correctOn(a, event.eventKey, { endAt: endAt.toISOString() });
    // Inclusive to the second: outside from the next one; B knows the new end within the freshness.
    const outsideFrom = Math.max(
      endAt.getTime() + 1_000,
      shortened.committedBy + STATED_FRESHNESS_MS,
    );
    await followsWithin(
      async () => (await issue(b.url, event.eventKey, userId++)).body as unknown,
      (body) => JSON.stringify(body) === JSON.stringify(OUTSIDE),
      outsideFrom,
      0,
    );
    // From then on memory and database agree, whatever the instance; the holders still get their tickets.
    for (const service of [a, b]) {
      expect((await issue(service.url, event.eventKey, userId++)).body).toEqual(OUTSIDE);
      await issue(service.url, event.eventKey, 1).expect(200);
    }
    const row = await request(b.url).get(`/events/${event.eventKey}`).expect(200);
    expect(row.body).toMatchObject({ totalQuantity: 2, remainingQuantity: 0, isActive: false });
  });
});
