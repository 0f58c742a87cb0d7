// k6: flaky-network retransmissions — every user sends its request, then resends it (same Idempotency-Key,
// or no key at all) several times. Every copy that is decided must carry the same decision as the first
// decided one: the same ticket, or sold out. A copy that was shed (429, 503) or met its key in flight (409)
// got no decision yet — a client would retry — so it is counted, not compared.
// `k6 run loadtest/retransmit.js` (BASE_URL defaults to http://localhost:3000).
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter } from 'k6/metrics';
import {
  BASE_URL,
  JSON_HEADERS,
  SOLD_OUT,
  THRESHOLDS,
  createEvent,
  scenario,
  shed,
} from './lib.js';

const COPIES = 5;
const mismatches = new Counter('retransmission_mismatches');
const undecided = new Counter('retransmission_undecided');

export const options = {
  scenarios: {
    retransmit: {
      executor: 'shared-iterations',
      vus: Math.min(scenario.connections, 200),
      iterations: Math.round(scenario.users * scenario.retransmitRatio),
      maxDuration: '2m',
    },
  },
  thresholds: { ...THRESHOLDS, retransmission_mismatches: ['count==0'] },
};

export function setup() {
  return { eventKey: createEvent('k6-retransmit') };
}

/** What a copy was answered: `ticket <id>`, `sold out`, or null when it was not decided. */
function decisionOf(response) {
  if (shed(response)) return null;
  if (response.status === 200 || response.status === 201)
    return `ticket ${response.json('ticketId')}`;
  if (response.status === 409 && response.json('message') === SOLD_OUT) return 'sold out';
  if (response.status === 409) return null; // the same key still in flight
  return `status ${response.status}`;
}

export default function retransmit({ eventKey }) {
  const userId = exec.scenario.iterationInTest + 1;
  const url = `${BASE_URL}/events/${eventKey}/tickets`;
  const body = JSON.stringify({ userId });
  const key = `${eventKey}-${userId}`;
  let first = null;
  for (let copy = 0; copy <= COPIES; copy++) {
    // The first copy and every other one carry the key; the rest rely on the natural key (user, event).
    const response = http.post(url, body, {
      headers: copy % 2 === 0 ? { ...JSON_HEADERS, 'idempotency-key': key } : JSON_HEADERS,
      responseCallback: http.expectedStatuses(200, 201, 409),
    });
    const decision = decisionOf(response);
    if (decision === null) undecided.add(1);
    else if (first === null) first = decision;
    else if (decision !== first) mismatches.add(1);
  }
}
