import request from 'supertest';
import { startTestApp, TestApp } from './support/test-app';
import { createEvent, issue } from './support/fixtures';

const TICKET_ID = /^[0-9a-f-]{36}$/;

describe('ticket issuance', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ now: '2026-03-10T03:00:00Z' });
  });
  afterAll(() => t.close());
  beforeEach(() => t.clock.set('2026-03-10T03:00:00Z'));

  it('issues a ticket with 201 and returns the same one with 200 on a repeat', async () => {
    const event = await createEvent(t.url, { totalQuantity: 2 });
    const first = await issue(t.url, event.eventKey, 42).expect(201);
    expect(first.body).toEqual({
      ticketId: expect.stringMatching(TICKET_ID),
      userId: 42,
      eventKey: event.eventKey,
      issuedAt: '2026-03-10T03:00:00Z',
    });
    t.clock.advance(5_000);
    const repeat = await issue(t.url, event.eventKey, 42).expect(200);
    expect(repeat.body).toEqual(first.body);
    const rows = await t.db('tickets').where({ userId: 42 });
    expect(rows).toHaveLength(1);
  });

  it('answers 409 sold out once totalQuantity is reached, and still 200 to a holder', async () => {
    const event = await createEvent(t.url, { totalQuantity: 1 });
    const held = await issue(t.url, event.eventKey, 1).expect(201);
    const refused = await issue(t.url, event.eventKey, 2).expect(409);
    expect(refused.body).toEqual({ statusCode: 409, message: '티켓이 모두 소진되었습니다.' });
    const again = await issue(t.url, event.eventKey, 1).expect(200);
    expect(again.body.ticketId).toBe(held.body.ticketId);
    const stored = await t.db('events').where('eventKey', event.eventKey).first();
    expect(stored.issuedCount).toBe(1);
  });

  it('answers 409 when today’s cap is reached, and still 200 to a holder', async () => {
    const event = await createEvent(t.url, { totalQuantity: 10, dailyLimit: 1 });
    const held = await issue(t.url, event.eventKey, 1).expect(201);
    const refused = await issue(t.url, event.eventKey, 2).expect(409);
    expect(refused.body).toEqual({
      statusCode: 409,
      message: '오늘의 발급 한도에 도달했습니다. 내일 다시 시도해주세요.',
    });
    expect((await issue(t.url, event.eventKey, 1).expect(200)).body).toEqual(held.body);
  });

  it('answers 400 outside the period, and still 200 to a holder after it closed', async () => {
    const event = await createEvent(t.url, {
      startAt: '2026-03-10T00:00:00Z',
      endAt: '2026-03-10T10:00:00Z',
    });
    const held = await issue(t.url, event.eventKey, 1).expect(201);
    t.clock.set('2026-03-10T10:00:01Z');
    const refused = await issue(t.url, event.eventKey, 2).expect(400);
    expect(refused.body).toEqual({ statusCode: 400, message: '이벤트 기간이 아닙니다.' });
    expect((await issue(t.url, event.eventKey, 1).expect(200)).body).toEqual(held.body);
    expect(await t.db('tickets').where({ userId: 2 })).toHaveLength(0);
  });

  it('includes both ends of the period, to the second', async () => {
    const event = await createEvent(t.url, {
      startAt: '2026-03-10T00:00:00Z',
      endAt: '2026-03-10T10:00:00Z',
    });
    t.clock.set('2026-03-09T23:59:59.999Z');
    await issue(t.url, event.eventKey, 1).expect(400);
    t.clock.set('2026-03-10T00:00:00.000Z');
    await issue(t.url, event.eventKey, 1).expect(201);
    t.clock.set('2026-03-10T10:00:00.999Z');
    await issue(t.url, event.eventKey, 2).expect(201);
    t.clock.set('2026-03-10T10:00:01.000Z');
    await issue(t.url, event.eventKey, 3).expect(400);
  });

  it('answers 404 for an unknown event and writes nothing', async () => {
    const response = await issue(t.url, 'no-such-event', 1).expect(404);
    expect(response.body).toEqual({ statusCode: 404, message: '존재하지 않는 이벤트입니다.' });
  });

  it('lists a user’s tickets newest first, and [] for a user with none', async () => {
    const older = await createEvent(t.url, { name: '첫 번째' });
    const newer = await createEvent(t.url, { name: '두 번째' });
    await issue(t.url, older.eventKey, 500).expect(201);
    t.clock.advance(60_000);
    await issue(t.url, newer.eventKey, 500).expect(201);
    const response = await request(t.url).get('/users/500/tickets').expect(200);
    expect(response.body).toEqual([
      {
        ticketId: expect.stringMatching(TICKET_ID),
        eventKey: newer.eventKey,
        eventName: '두 번째',
        issuedAt: '2026-03-10T03:01:00Z',
      },
      {
        ticketId: expect.stringMatching(TICKET_ID),
        eventKey: older.eventKey,
        eventName: '첫 번째',
        issuedAt: '2026-03-10T03:00:00Z',
      },
    ]);
    expect((await request(t.url).get('/users/501/tickets').expect(200)).body).toEqual([]);
  });
});
