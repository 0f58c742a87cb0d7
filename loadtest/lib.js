// Shared by the k6 scripts: the scenario's numbers (scenario.json, shared with `npm run bench`), a fresh
// event to run against, and the answers that are not decisions (counted, and limited by thresholds).
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter } from 'k6/metrics';

export const scenario = JSON.parse(open('./scenario.json'));
export const BASE_URL = __ENV.BASE_URL || 'http://localhost:3000';
export const JSON_HEADERS = { 'content-type': 'application/json' };
export const SOLD_OUT = '티켓이 모두 소진되었습니다.';

// Shed load is no success: each script's thresholds allow none (raise the service's limits for a run).
const throttled = new Counter('throttled_answers');
const unavailable = new Counter('unavailable_answers');

/** Counts a 429 or 503; true when the answer is one of them (no decision: a client would retry). */
export function shed(response) {
  if (response.status === 429) throttled.add(1);
  if (response.status === 503) unavailable.add(1);
  return response.status === 429 || response.status === 503;
}

/** Thresholds every script shares: no shed answer, no unexpected status, p99 under a second. */
export const THRESHOLDS = {
  throttled_answers: ['count==0'],
  unavailable_answers: ['count==0'],
  http_req_failed: ['rate<0.01'],
  http_req_duration: ['p(99)<1000'],
};

/** Creates an event open for the next hour with the scenario's quantities; aborts the run if it can't. */
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
  if (response.status !== 201) {
    // Every request after this would be a 404 that proves nothing.
    exec.test.abort(`the event was not created: ${response.status} ${response.body}`);
  }
  return eventKey;
}
