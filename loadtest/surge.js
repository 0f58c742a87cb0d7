// k6: the opening-second surge — distinct users race for the tickets of a fresh event.
// `k6 run loadtest/surge.js` (BASE_URL defaults to http://localhost:3000). The numbers come from
// scenario.json, shared with `npm run bench`.
import { check } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter } from 'k6/metrics';
import { BASE_URL, JSON_HEADERS, THRESHOLDS, createEvent, scenario, shed } from './lib.js';

const issued = new Counter('tickets_issued');
const soldOut = new Counter('tickets_sold_out');

export const options = {
  scenarios: {
    surge: {
      executor: 'shared-iterations',
      vus: scenario.connections,
      iterations: scenario.users,
      maxDuration: '2m',
    },
  },
  thresholds: {
    ...THRESHOLDS,
    // Every request is decided: a ticket (201, or 200 already held) or sold out (409).
    checks: ['rate>0.99'],
  },
};

export function setup() {
  return { eventKey: createEvent('k6-surge') };
}

export default function surge({ eventKey }) {
  const userId = exec.scenario.iterationInTest + 1;
  const response = http.post(`${BASE_URL}/events/${eventKey}/tickets`, JSON.stringify({ userId }), {
    headers: { ...JSON_HEADERS, 'idempotency-key': `${eventKey}-${userId}` },
    responseCallback: http.expectedStatuses(200, 201, 409),
  });
  shed(response);
  if (response.status === 201) issued.add(1);
  if (response.status === 409) soldOut.add(1);
  check(response, { 'ticket or sold out': (r) => [200, 201, 409].includes(r.status) });
}
