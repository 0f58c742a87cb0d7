import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import request from 'supertest';
import { startTestApp, TestApp } from './support/test-app';

const LOADTEST = join(__dirname, '..', 'loadtest');
const scenario = JSON.parse(readFileSync(join(LOADTEST, 'scenario.json'), 'utf8')) as {
  users: number;
  connections: number;
  tickets: number;
  dailyLimit: number | null;
  retransmitRatio: number;
};

interface Answer {
  status: number;
  body?: unknown;
}
interface Sent {
  url: string;
  body: string;
  headers: Record<string, string>;
  expected: number[];
}

/**
 * k6 cannot run on these machines, so its scripts run here in a sandbox with stand-ins for k6's modules:
 * `answer` plays the service, and what the script sent, counted and checked is recorded.
 */
function k6(answer: (sent: Sent) => Answer, iteration = 0) {
  const sent: Sent[] = [];
  const counters: Record<string, number> = {};
  const checks: boolean[] = [];
  const modules: Record<string, unknown> = {
    k6: {
      check: (response: unknown, named: Record<string, (r: unknown) => boolean>) =>
        checks.push(...Object.values(named).map((predicate) => predicate(response))),
    },
    'k6/http': {
      default: {
        expectedStatuses: (...statuses: number[]) => statuses,
        post: (url: string, body: string, params: { headers: Record<string, string> } & object) => {
          const request = {
            url,
            body,
            headers: params.headers,
            expected: (params as { responseCallback?: number[] }).responseCallback ?? [],
          };
          sent.push(request);
          const { status, body: answerBody } = answer(request);
          return {
            status,
            body: JSON.stringify(answerBody),
            json: (field: string) => (answerBody as Record<string, unknown>)[field],
          };
        },
      },
    },
    'k6/execution': {
      default: {
        scenario: { iterationInTest: iteration },
        test: {
          abort: (reason: string) => {
            throw new Error(`k6 aborted the test: ${reason}`);
          },
        },
      },
    },
    'k6/metrics': {
      Counter: class {
        constructor(private readonly name: string) {
          counters[name] = 0;
        }
        add(n: number) {
          counters[this.name] += n;
        }
      },
    },
  };
  const load = (file: string): Record<string, unknown> => {
    const exports: Record<string, unknown> = {};
    // The module syntax the scripts use, rewritten for a plain script.
    const code = readFileSync(join(LOADTEST, file), 'utf8')
      .replace(/^import (\w+) from '([^']+)';$/gm, "const $1 = __import('$2').default;")
      .replace(/^import (\{[^}]+\}) from '([^']+)';$/gm, "const $1 = __import('$2');")
      .replace(/^export default function (\w+)/gm, '__exports.default = $1;\nfunction $1')
      .replace(/^export function (\w+)/gm, '__exports.$1 = $1;\nfunction $1')
      .replace(/^export const (\w+) =/gm, 'const $1 = __exports.$1 =');
    runInNewContext(code, {
      __exports: exports,
      __import: (name: string) => (name.startsWith('./') ? load(name.slice(2)) : modules[name]),
      __ENV: {},
      open: (path: string) => readFileSync(join(LOADTEST, path), 'utf8'),
    });
    return exports;
  };
  return { load, sent, counters, checks };
}

type Script = {
  options: {
    scenarios: Record<string, { vus: number; iterations: number }>;
    thresholds: Record<string, string[]>;
  };
  setup(): { eventKey: string };
  default(data: { eventKey: string }): void;
};

const created: Answer = { status: 201 };
const ticket = (ticketId: string, status = 201): Answer => ({ status, body: { ticketId } });
const soldOut: Answer = { status: 409, body: { message: '티켓이 모두 소진되었습니다.' } };
const inFlight: Answer = {
  status: 409,
  body: { message: '같은 Idempotency-Key의 요청이 아직 처리 중입니다. 잠시 후 다시 시도해주세요.' },
};
const throttled: Answer = { status: 429, body: { message: '요청이 너무 많습니다.' } };

/** Runs one iteration of `file` against answers given in turn (after the event's creation). */
function iterate(file: string, answers: Answer[]) {
  const queue = [...answers];
  const run = k6((sent) => (sent.url.endsWith('/events') ? created : queue.shift()!));
  const script = run.load(file) as Script;
  script.default(script.setup());
  expect(queue).toEqual([]);
  return run;
}

describe('the k6 scripts (loadtest/)', () => {
  for (const file of ['surge.js', 'retransmit.js']) {
    describe(file, () => {
      it('plans with scenario.json and limits shed answers (429, 503) to none', () => {
        const script = k6(() => created).load(file) as Script;
        const [plan] = Object.values(script.options.scenarios);
        expect(plan.iterations).toBe(
          file === 'surge.js'
            ? scenario.users
            : Math.round(scenario.users * scenario.retransmitRatio),
        );
        expect(plan.vus).toBeLessThanOrEqual(scenario.connections);
        expect(script.options.thresholds).toMatchObject({
          throttled_answers: ['count==0'],
          unavailable_answers: ['count==0'],
          http_req_failed: ['rate<0.01'],
        });
      });

      it('aborts in setup() when the event cannot be created', () => {
        const script = k6(() => ({ status: 401, body: { message: 'no' } })).load(file) as Script;
        expect(() => script.setup()).toThrow('k6 aborted the test: the event was not created: 401');
      });

      it('never expects a 429 or a 503', () => {
        const run = iterate(file, Array(file === 'surge.js' ? 1 : 6).fill(ticket('a')));
        for (const sent of run.sent.slice(1)) expect(sent.expected).toEqual([200, 201, 409]);
      });
    });
  }

  it('surge.js fails its check on a 429 and counts it', () => {
    const run = iterate('surge.js', [throttled]);
    expect(run.checks).toEqual([false]);
    expect(run.counters.throttled_answers).toBe(1);
  });

  it('retransmit.js compares decisions only: a throttled or in-flight copy is no mismatch', () => {
    const mismatches = (answers: Answer[]) =>
      iterate('retransmit.js', answers).counters.retransmission_mismatches;
    const a = ticket('a');
    expect(mismatches([throttled, a, ticket('a', 200), inFlight, a, a])).toBe(0);
    expect(mismatches([soldOut, throttled, soldOut, soldOut, soldOut, soldOut])).toBe(0);
    expect(mismatches([a, a, ticket('b', 200), a, a, a])).toBe(1);
    expect(mismatches([soldOut, a, a, a, a, a])).toBe(5);
  });

  describe('against the service', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp({ now: new Date().toISOString() });
    });
    afterAll(() => t.close());

    it('the requests the scripts send are answered as they expect', async () => {
      for (const file of ['surge.js', 'retransmit.js']) {
        const run = iterate(file, Array(file === 'surge.js' ? 1 : 6).fill(ticket('a')));
        for (const [index, sent] of run.sent.entries()) {
          const path = new URL(sent.url).pathname;
          const response = await request(t.url).post(path).set(sent.headers).send(sent.body);
          // The event; then a ticket, replayed as 201 to its key and found as 200 without one.
          const status = index === 0 || 'idempotency-key' in sent.headers ? 201 : 200;
          expect([file, index, path, response.status]).toEqual([file, index, path, status]);
        }
      }
    });
  });
});
