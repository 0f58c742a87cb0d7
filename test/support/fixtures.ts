import type { Knex } from 'knex';
import request from 'supertest';

let sequence = 0;

/** A valid POST /events body; the period spans the test clock's default day unless overridden. */
export function eventBody(
  overrides: Record<string, unknown> = {},
): { eventKey: string } & Record<string, unknown> {
  sequence += 1;
  return {
    eventKey: `event-${process.pid}-${sequence}`,
    name: '골든 티켓 이벤트',
    totalQuantity: 100,
    dailyLimit: null,
    startAt: '2026-03-01T00:00:00Z',
    endAt: '2026-03-31T23:59:59Z',
    ...overrides,
  };
}

export async function createEvent(url: string, overrides: Record<string, unknown> = {}) {
  const body = eventBody(overrides);
  const response = await request(url).post('/events').send(body).expect(201);
  return response.body as { eventKey: string } & Record<string, unknown>;
}

/** An event open for years around now, for services on the real clock (the process tests). */
export const OPEN_NOW = { startAt: '2020-01-01T00:00:00Z', endAt: '2099-12-31T23:59:59Z' };

export function issue(url: string, eventKey: string, userId: unknown, key?: string) {
  const call = request(url).post(`/events/${eventKey}/tickets`).send({ userId });
  return key === undefined ? call : call.set('Idempotency-Key', key);
}

/** Resolves when every promise has settled, failing on the first rejection (all requests still run). */
export async function all<T>(promises: Array<Promise<T>>): Promise<T[]> {
  return Promise.all(promises);
}

/** An event's daily count rows, in KST-day order, as the database holds them. */
export function dailyCountsOf(
  db: Knex,
  eventKey: string,
): Promise<Array<{ kstDay: string; issuedCount: number; dailyLimit: number | null }>> {
  return db('eventDailyCounts')
    .join('events', 'events.id', 'eventDailyCounts.eventId')
    .where('events.eventKey', eventKey)
    .orderBy('kstDay')
    .select('kstDay', 'eventDailyCounts.issuedCount', 'eventDailyCounts.dailyLimit');
}
