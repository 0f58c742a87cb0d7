// k6: flaky-network retransmissions — every user sends its request, then resends it (same Idempotency-Key,
// or no key at all) several times. Every copy must carry the same ticket as the first answer.
// `k6 run loadtest/retransmit.js` (BASE_URL defaults to http://localhost:3000).
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter } from 'k6/metrics';
import { BASE_URL, JSON_HEADERS, createEvent, scenario } from './lib.js';

const COPIES = 5;
const mismatches = new Counter('retransmission_mismatches');

export const options = {
  scenarios: {
    retransmit: {
      executor: 'shared-iterations',
      vus: Math.min(scenario.connections, 200),
      iterations: Math.round(scenario.users * scenario.retransmitRatio),
      maxDuration: '2m',
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    retransmission_mismatches: ['count==0'],
    http_req_duration: ['p(99)<1000'],
  },
};

export function setup() {
  return { eventKey: createEvent('k6-retransmit') };
}

export default function retransmit({ eventKey }) {
  const userId = exec.scenario.iterationInTest + 1;
  const url = `${BASE_URL}/events/${eventKey}/tickets`;
  const body = JSON.stringify({ userId });
  const key = `${eventKey}-${userId}`;
  const params = (withKey) => ({
    headers: withKey ? { ...JSON_HEADERS, 'idempotency-key': key } : JSON_HEADERS,
    responseCallback: http.expectedStatuses(200, 201, 409, 429),
  });
  const first = http.post(url, body, params(true));
  const firstTicket = first.status === 200 || first.status === 201 ? first.json('ticketId') : null;
  for (let copy = 0; copy < COPIES; copy++) {
    const again = http.post(url, body, params(copy % 2 === 0));
    if (again.status === 409 || again.status === 429) continue; // in flight / throttled: a retry would follow
    const ticket = again.status === 200 || again.status === 201 ? again.json('ticketId') : null;
    if (ticket !== firstTicket) mismatches.add(1);
  }
}
