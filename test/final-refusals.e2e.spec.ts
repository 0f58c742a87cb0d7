import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { TicketIssuanceService } from '../src/tickets/ticket-issuance.service';
import { FinalRefusals } from '../src/tickets/final-refusals';
import { OPEN_NOW, createEvent, issue } from './support/fixtures';
import { seenWithin } from './support/freshness';
import { servicesOnFreshDatabase } from './support/service-fixture';
import { STUCK_AFTER_MS, ServiceProcess, waitUntil } from './support/service-process';
import { startTestApp, TestApp } from './support/test-app';

const SOLD_OUT = { statusCode: 409, message: '티켓이 모두 소진되었습니다.' };
const CAPPED = {
  statusCode: 409,
  message: '오늘의 발급 한도에 도달했습니다. 내일 다시 시도해주세요.',
};
const OUTSIDE = { statusCode: 400, message: '이벤트 기간이 아닙니다.' };
const SWITCHED_OFF = { statusCode: 400, message: '현재 발급이 중단된 이벤트입니다.' };
const REUSED = {
  statusCode: 422,
  message: '이 Idempotency-Key는 다른 요청에 이미 사용되었습니다. 새 키로 요청해주세요.',
};

/** Final refusals answered from memory, in-process with a hand-moved clock. */
describe('final refusals from memory', () => {
  let t: TestApp;
  let issuance: TicketIssuanceService;
  let refusals: FinalRefusals;

  beforeAll(async () => {
    t = await startTestApp({ now: '2026-03-10T03:00:00Z' });
    issuance = t.app.get(TicketIssuanceService);
    refusals = t.app.get(FinalRefusals);
  });
  afterAll(() => t.close());
  beforeEach(() => t.clock.set('2026-03-10T03:00:00Z'));

  /** Resolves once this process answers `count` events from memory. */
  const settled = (count: number) =>
    waitUntil(
      () => Promise.resolve(refusals.size >= count),
      STUCK_AFTER_MS,
      () => 'the event was not settled in memory',
    );

  it('sold out: holders get their ticket byte for byte, everyone else 409 — without a batch', async () => {
    const event = await createEvent(t.url, { totalQuantity: 3 });
    const issued = await Promise.all([1, 2, 3].map((u) => issue(t.url, event.eventKey, u)));
    expect(issued.map((r) => r.status)).toEqual([201, 201, 201]);
    await settled(1);

    const batches = issuance.stats.batches;
    const holder = await issue(t.url, event.eventKey, 2).expect(200);
    expect(holder.text).toBe(issued[1].text);
    expect(holder.headers['content-type']).toBe('application/json; charset=utf-8');
    const refused = await Promise.all(
      Array.from({ length: 50 }, (_, i) => issue(t.url, event.eventKey, 100 + i)),
    );
    for (const r of refused) {
      expect(r.status).toBe(409);
      expect(r.body).toEqual(SOLD_OUT);
    }
    expect(issuance.stats.batches).toBe(batches);
    expect(await t.db('tickets').count({ n: '*' }).first()).toMatchObject({ n: 3 });
  });

  it('keeps the order of the rules: switched off, then outside the period, then sold out', async () => {
    const event = await createEvent(t.url, { totalQuantity: 1 });
    const holder = await issue(t.url, event.eventKey, 1).expect(201);
    await issue(t.url, event.eventKey, 2).expect(409);
    await settled(2);

    // A PATCH on this process applies at once.
    await request(t.url).patch(`/events/${event.eventKey}`).send({ isActive: false }).expect(200);
    expect((await issue(t.url, event.eventKey, 3)).body).toEqual(SWITCHED_OFF);
    expect((await issue(t.url, event.eventKey, 1).expect(200)).text).toBe(holder.text);
    await request(t.url).patch(`/events/${event.eventKey}`).send({ isActive: true }).expect(200);
    expect((await issue(t.url, event.eventKey, 3)).body).toEqual(SOLD_OUT);

    // After endAt: outside the period, and a holder still gets the ticket.
    t.clock.set('2026-04-01T00:00:00Z');
    expect((await issue(t.url, event.eventKey, 3)).body).toEqual(OUTSIDE);
    expect((await issue(t.url, event.eventKey, 1).expect(200)).text).toBe(holder.text);
  });

  it('answers keys from memory once their records commit: a retransmission replays the bytes, a reuse is 422, a holder keeps its 201', async () => {
    const event = await createEvent(t.url, { totalQuantity: 1 });
    const holderKey = randomUUID();
    const issuedToHolder = await issue(t.url, event.eventKey, 1, holderKey).expect(201);
    await issue(t.url, event.eventKey, 2).expect(409);
    await waitUntil(
      () => Promise.resolve(refusals.size >= 3),
      STUCK_AFTER_MS,
      () => 'not settled',
    );

    const key = randomUUID();
    const first = await issue(t.url, event.eventKey, 7, key).expect(409);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // Answered only once committed: the record is there the moment the answer is.
    expect(await t.db('idempotencyKeys').where({ idempotencyKey: key }).first()).toMatchObject({
      responseStatus: 409,
      responseBody: first.text,
    });
    // Remembered: a replay, and a reuse for another body is 422.
    const again = await issue(t.url, event.eventKey, 7, key).expect(409);
    expect(again.text).toBe(first.text);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((await issue(t.url, event.eventKey, 8, key).expect(422)).body).toEqual(REUSED);

    // The holder's key still replays its 201 (the database answers keyed holders).
    const replay = await issue(t.url, event.eventKey, 1, holderKey).expect(201);
    expect(replay.text).toBe(issuedToHolder.text);
    expect(replay.headers['idempotent-replayed']).toBe('true');

    // This process issued the holder's ticket, so it knows that key: a reuse is 422 at once.
    expect((await issue(t.url, event.eventKey, 905, holderKey).expect(422)).body).toEqual(REUSED);

    // Another instance refuses the reuse too, and replays the key's answer.
    const stored = await t.db('idempotencyKeys').where({ idempotencyKey: key }).first();
    expect(stored).toMatchObject({
      responseStatus: 409,
      responseBody: first.text,
      lockToken: null,
    });
    const other = await startTestApp({ databaseUrl: t.databaseUrl, now: '2026-03-10T03:00:00Z' });
    try {
      expect((await issue(other.url, event.eventKey, 9, key).expect(422)).body).toEqual(REUSED);
      const replayed = await issue(other.url, event.eventKey, 7, key).expect(409);
      expect(replayed.text).toBe(first.text);
      expect(replayed.headers['idempotent-replayed']).toBe('true');

      // Settled there too, the other instance meets the holder's key reused for another user, unknown to
      // it: decided from memory, but the group commit meets the stored record, which wins: 422.
      await waitUntil(
        () => Promise.resolve(other.app.get(FinalRefusals).size >= 1),
        STUCK_AFTER_MS,
        () => 'not settled on the other instance',
      );
      expect((await issue(other.url, event.eventKey, 905, holderKey).expect(422)).body).toEqual(
        REUSED,
      );
      expect((await issue(other.url, event.eventKey, 1, holderKey).expect(201)).text).toBe(
        issuedToHolder.text,
      );
    } finally {
      await other.close();
    }
  });

  it("today's cap: refused from memory, and issuance resumes at 00:00 KST at once", async () => {
    t.clock.set('2026-03-10T14:00:00Z'); // 23:00 KST
    const event = await createEvent(t.url, { totalQuantity: 10, dailyLimit: 2 });
    await issue(t.url, event.eventKey, 1).expect(201);
    await issue(t.url, event.eventKey, 2).expect(201);
    expect((await issue(t.url, event.eventKey, 3).expect(409)).body).toEqual(CAPPED);
    await waitUntil(
      () => Promise.resolve(refusals.size >= 4),
      STUCK_AFTER_MS,
      () => 'not settled',
    );
    const batches = issuance.stats.batches;
    expect((await issue(t.url, event.eventKey, 4).expect(409)).body).toEqual(CAPPED);
    expect(issuance.stats.batches).toBe(batches);

    t.clock.set('2026-03-10T15:00:00Z'); // 00:00 KST
    await issue(t.url, event.eventKey, 3).expect(201);
    await issue(t.url, event.eventKey, 4).expect(201);
    expect((await issue(t.url, event.eventKey, 5).expect(409)).body).toEqual(CAPPED);
  });
});

/** isActive, switched on one process, is honoured by another within a second. */
describe('final refusals across processes', () => {
  const services = servicesOnFreshDatabase();
  let a: ServiceProcess;
  let b: ServiceProcess;

  beforeAll(async () => {
    [a, b] = await Promise.all([services.start(), services.start()]);
  });

  const settledIn = (service: ServiceProcess) =>
    waitUntil(
      () =>
        Promise.resolve(
          service.logs().some((e) => String(e.msg).startsWith('sold out: answered from memory')),
        ),
      STUCK_AFTER_MS,
      () => `${service.url} did not settle the event`,
    );

  it('a PATCH on one process is honoured by the other within a second', async () => {
    const event = await createEvent(a.url, { totalQuantity: 1, ...OPEN_NOW });
    await issue(a.url, event.eventKey, 1).expect(201);
    await issue(a.url, event.eventKey, 2).expect(409);
    await issue(b.url, event.eventKey, 3).expect(409);
    await Promise.all([settledIn(a), settledIn(b)]);
    expect((await issue(b.url, event.eventKey, 4)).body).toEqual(SOLD_OUT);

    await request(a.url).patch(`/events/${event.eventKey}`).send({ isActive: false }).expect(200);
    const switchedAt = Date.now();
    let answer: request.Response | undefined;
    // isActive is honoured by every process within a second (FinalRefusals).
    const seen = await seenWithin(
      1_000,
      async () => {
        answer = await issue(b.url, event.eventKey, 5);
        return answer.status !== 409;
      },
      switchedAt,
    );
    expect(answer?.body).toEqual(SWITCHED_OFF);
    expect(seen.elapsed).toBeLessThanOrEqual(seen.bound);
  });
});
