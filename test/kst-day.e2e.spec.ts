import request from 'supertest';
import { startTestApp, TestApp } from './support/test-app';
import { createEvent, dailyCountsOf, issue } from './support/fixtures';

// 00:00:00 KST on 2026-03-11 is 15:00:00 UTC on 2026-03-10.
const LAST_SECOND_OF_DAY = '2026-03-10T14:59:59Z';
const FIRST_SECOND_OF_NEXT_DAY = '2026-03-10T15:00:00Z';

describe('the KST service day', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ now: '2026-03-10T12:00:00Z' });
  });
  afterAll(() => t.close());

  it('resets the daily cap at 00:00:00 KST and todayIssuedCount follows', async () => {
    const event = await createEvent(t.url, { totalQuantity: 10, dailyLimit: 2 });
    const today = () =>
      request(t.url)
        .get(`/events/${event.eventKey}`)
        .then((r) => r.body.todayIssuedCount as number);

    t.clock.set('2026-03-10T12:00:00Z');
    await issue(t.url, event.eventKey, 1).expect(201);
    t.clock.set(LAST_SECOND_OF_DAY);
    await issue(t.url, event.eventKey, 2).expect(201);
    await issue(t.url, event.eventKey, 3).expect(409);
    expect(await today()).toBe(2);

    t.clock.set(FIRST_SECOND_OF_NEXT_DAY);
    expect(await today()).toBe(0);
    await issue(t.url, event.eventKey, 3).expect(201);
    await issue(t.url, event.eventKey, 4).expect(201);
    const capped = await issue(t.url, event.eventKey, 5).expect(409);
    expect(capped.body.message).toBe('오늘의 발급 한도에 도달했습니다. 내일 다시 시도해주세요.');
    expect(await today()).toBe(2);

    const days = await dailyCountsOf(t.db, event.eventKey);
    expect(days.map((d) => d.issuedCount)).toEqual([2, 2]);
    const byDay = await t
      .db('tickets')
      .join('events', 'events.id', 'tickets.eventId')
      .where('events.eventKey', event.eventKey)
      .groupBy('tickets.kstDay')
      .select('tickets.kstDay')
      .count({ n: '*' });
    expect(byDay.map((d) => Number(d.n))).toEqual([2, 2]);
  });

  it('counts a ticket at 23:59:59 KST in that day and one at 00:00:00 KST in the next', async () => {
    const event = await createEvent(t.url, { dailyLimit: 1 });
    t.clock.set(LAST_SECOND_OF_DAY);
    await issue(t.url, event.eventKey, 10).expect(201);
    t.clock.set(FIRST_SECOND_OF_NEXT_DAY);
    await issue(t.url, event.eventKey, 11).expect(201);
    const rows = await t
      .db('tickets')
      .whereIn('userId', [10, 11])
      .orderBy('userId')
      .select(t.db.raw("to_char(kst_day, 'YYYY-MM-DD') as day"));
    expect(rows.map((r: { day: string }) => r.day)).toEqual(['2026-03-10', '2026-03-11']);
  });
});
