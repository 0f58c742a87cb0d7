import { startTestApp, TestApp } from './support/test-app';
import { createEvent, issue } from './support/fixtures';

/** Real parallel HTTP requests against the real database; the invariants are then checked in the database. */
describe('issuance under concurrent load', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  async function ticketsOf(eventKey: string) {
    return t
      .db('tickets')
      .join('events', 'events.id', 'tickets.eventId')
      .where('events.eventKey', eventKey)
      .select('tickets.userId', 'tickets.id');
  }

  it('1,000 distinct users against 100 tickets: exactly 100 issued, 900 sold out', async () => {
    const event = await createEvent(t.url, { totalQuantity: 100 });
    const responses = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => issue(t.url, event.eventKey, i + 1)),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(100);
    expect(statuses.filter((s) => s === 409)).toHaveLength(900);
    for (const r of responses.filter((r) => r.status === 409)) {
      expect(r.body).toEqual({ statusCode: 409, message: '티켓이 모두 소진되었습니다.' });
    }

    const tickets = await ticketsOf(event.eventKey);
    expect(tickets).toHaveLength(100);
    expect(new Set(tickets.map((row: { userId: number }) => row.userId)).size).toBe(100);
    const winners = responses.filter((r) => r.status === 201).map((r) => r.body.userId as number);
    expect(new Set(winners)).toEqual(new Set(tickets.map((row: { userId: number }) => row.userId)));
    const stored = await t.db('events').where('eventKey', event.eventKey).first();
    expect(stored.issuedCount).toBe(100);
  });

  it('a daily cap of 30 under the same storm: exactly 30 issued today', async () => {
    const event = await createEvent(t.url, { totalQuantity: 100, dailyLimit: 30 });
    const responses = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => issue(t.url, event.eventKey, 10_000 + i)),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(30);
    expect(statuses.filter((s) => s === 409)).toHaveLength(970);
    expect(responses.find((r) => r.status === 409)?.body.message).toBe(
      '오늘의 발급 한도에 도달했습니다. 내일 다시 시도해주세요.',
    );
    expect(await ticketsOf(event.eventKey)).toHaveLength(30);
    const day = await t
      .db('eventDailyCounts')
      .join('events', 'events.id', 'eventDailyCounts.eventId')
      .where('events.eventKey', event.eventKey)
      .select('eventDailyCounts.issuedCount');
    expect(day).toEqual([{ issuedCount: 30 }]);
  });

  it('one user sending 50 identical requests at once gets exactly one ticket', async () => {
    const event = await createEvent(t.url, { totalQuantity: 10 });
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => issue(t.url, event.eventKey, 777)),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(49);
    const ids = new Set(responses.map((r) => r.body.ticketId as string));
    expect(ids.size).toBe(1);
    const tickets = await ticketsOf(event.eventKey);
    expect(tickets).toEqual([{ userId: 777, id: [...ids][0] }]);
  });

  it('two app instances on one database never oversell', async () => {
    const second = await startTestApp({ databaseUrl: t.databaseUrl });
    try {
      const event = await createEvent(t.url, { totalQuantity: 50 });
      const responses = await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          issue(i % 2 === 0 ? t.url : second.url, event.eventKey, 50_000 + (i % 200)),
        ),
      );
      const tickets = await ticketsOf(event.eventKey);
      expect(tickets).toHaveLength(50);
      expect(new Set(tickets.map((row: { userId: number }) => row.userId)).size).toBe(50);
      // Every user got one consistent answer: the holders always their own ticket.
      const byUser = new Map<number, Set<string>>();
      for (const r of responses.filter((r) => r.status === 201 || r.status === 200)) {
        byUser.set(r.body.userId, (byUser.get(r.body.userId) ?? new Set()).add(r.body.ticketId));
      }
      expect(byUser.size).toBe(50);
      for (const ids of byUser.values()) expect(ids.size).toBe(1);
      expect(responses.every((r) => [200, 201, 409].includes(r.status))).toBe(true);
    } finally {
      await second.close();
    }
  });
});
