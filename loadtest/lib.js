// Shared by the k6 scripts: the scenario's numbers (scenario.json, shared with `npm run bench`) and a fresh
// event to run against.
import { check } from 'k6';
import http from 'k6/http';

export const scenario = JSON.parse(open('./scenario.json'));
export const BASE_URL = __ENV.BASE_URL || 'http://localhost:3000';
export const JSON_HEADERS = { 'content-type': 'application/json' };

/** Creates an event open for the next hour with the scenario's quantities; returns its key. */
export function createEvent(prefix) {
  const now = Date.now();
  const eventKey = `${prefix}-${now}`;
  const response = http.post(
    `${BASE_URL}/events`,
    JSON.stringify({
      eventKey,
      name: prefix,
      totalQuantity: scenario.tickets,
      dailyLimit: scenario.dailyLimit,
      startAt: new Date(now - 60_000).toISOString(),
      endAt: new Date(now + 3_600_000).toISOString(),
    }),
    {
      headers: __ENV.ADMIN_TOKEN
        ? { ...JSON_HEADERS, authorization: `Bearer ${__ENV.ADMIN_TOKEN}` }
        : JSON_HEADERS,
    },
  );
  check(response, { 'event created': (r) => r.status === 201 });
  return eventKey;
}
