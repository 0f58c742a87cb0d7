import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckInput, check } from '../chaos/checker';
import { Entry, MESSAGES } from '../chaos/history';
import { applyMutation } from '../chaos/mutations';

const ROOT = join(__dirname, '..');
const soldOut = JSON.stringify({ statusCode: 409, message: MESSAGES.soldOut });
const switchedOff = JSON.stringify({ statusCode: 400, message: MESSAGES.switchedOff });
const unavailable = JSON.stringify({ statusCode: 503, message: '일시적으로 …' });
const ticket = JSON.stringify({
  ticketId: 't2',
  userId: 2,
  eventKey: 'e',
  issuedAt: '2026-01-01T00:00:00Z',
});

let nextId = 0;
function entry(fields: Partial<Entry>): Entry {
  return {
    id: nextId++,
    actor: 'user:1',
    why: 'first',
    instance: 'a',
    method: 'POST',
    path: '/events/e/tickets',
    body: '{"userId":1}',
    key: 'k1',
    eventKey: 'e',
    userId: 1,
    sentAt: 0,
    doneAt: 10,
    status: 409,
    answer: soldOut,
    ...fields,
  };
}

function input(entries: Entry[], faults: CheckInput['faults'] = []): CheckInput {
  entries.forEach((e, i) => (e.id = i));
  return {
    entries,
    faults,
    db: {
      events: [{ eventKey: 'e', totalQuantity: 1, dailyLimit: null, issuedCount: 0 }],
      tickets: [],
      dailyCounts: [],
      keysInFlight: [],
      storedAnswers: [
        { key: 'k1', status: 409, body: soldOut },
        { key: 'k2', status: 201, body: ticket },
      ],
    },
    probes: [],
    origin: 0,
    fakeOffsetMs: 0,
    grace503Ms: 1_000,
  };
}

const kinds = (report: ReturnType<typeof check>) => report.violations.map((v) => v.kind);

describe('chaos checker', () => {
  it('passes one key with one answer, replays and transients included', () => {
    const report = check(
      input(
        [
          entry({ status: 503, answer: unavailable, retryAfter: '1' }),
          entry({ sentAt: 20, doneAt: 30 }),
          entry({ sentAt: 40, doneAt: 50, replayed: true, instance: 'b' }),
        ],
        [{ kind: 'kill-9', target: 'a', startAt: 0, endAt: 5 }],
      ),
    );
    expect(report.violations).toEqual([]);
  });

  it('fails a key answered 409 then 400 (a switch-off in between), with the window that shows it', () => {
    const run = input([
      entry({ sentAt: 0, doneAt: 10 }),
      entry({
        actor: 'operator',
        method: 'PATCH',
        path: '/events/e',
        body: '{"isActive":false}',
        key: 'op',
        status: 200,
        answer: '{}',
        sentAt: 15,
        doneAt: 16,
      }),
      entry({ sentAt: 20, doneAt: 30, instance: 'b', status: 400, answer: switchedOff }),
    ]);
    run.db.storedAnswers.push({ key: 'op', status: 200, body: '{}' });
    const report = check(run);
    expect(kinds(report)).toEqual(['key-two-answers']);
    expect(report.violations[0]).toMatchObject({ entries: [0, 2], from: 0, to: 30 });
  });

  it('fails two requests owning one key, and a 5xx that is not a 503 with Retry-After', () => {
    const report = check(
      input([
        entry({}),
        entry({ body: '{"userId":2}', userId: 2, sentAt: 20, doneAt: 30 }),
        entry({ key: 'k2', status: 500, answer: unavailable, sentAt: 40, doneAt: 41 }),
        entry({ key: 'k3', status: 503, answer: unavailable, sentAt: 40, doneAt: 41 }),
      ]),
    );
    expect(kinds(report)).toEqual(['key-two-requests', 'server-error', 'no-retry-after']);
  });

  it('excuses a 503 only during a fault that can cause it, or just after', () => {
    const faults = [{ kind: 'db-pause' as const, target: 'postgres', startAt: 100, endAt: 200 }];
    const at = (sentAt: number) =>
      entry({
        key: `k${sentAt}`,
        status: 503,
        answer: unavailable,
        retryAfter: '1',
        sentAt,
        doneAt: sentAt + 5,
      });
    expect(kinds(check(input([at(150), at(1_100)], faults)))).toEqual([]);
    expect(kinds(check(input([at(1_300)], faults)))).toEqual(['503-without-fault']);
  });

  it('fails an acknowledged ticket the database does not hold, and a refusal followed by a later winner', () => {
    const run = input([
      entry({ sentAt: 0, doneAt: 10 }),
      entry({
        actor: 'user:2',
        key: 'k2',
        userId: 2,
        body: '{"userId":2}',
        status: 201,
        answer: ticket,
        sentAt: 20,
        doneAt: 30,
      }),
    ]);
    expect(kinds(check(run))).toEqual(['acknowledged-ticket-missing']);
    run.db.tickets.push({
      ticketId: 't2',
      eventKey: 'e',
      userId: 2,
      issuedAt: '2026-01-01T00:00:00Z',
      kstDay: '2026-01-01',
    });
    run.db.events[0].issuedCount = 1;
    run.db.dailyCounts.push({ eventKey: 'e', kstDay: '2026-01-01', issuedCount: 1 });
    expect(kinds(check(run))).toEqual(['fcfs-sold-out-then-won']);
  });
  it('fails a key answered without a record of its answer after the run', () => {
    const run = input([entry({ key: 'k9' })]);
    expect(kinds(check(run))).toEqual(['answer-not-stored']);
    run.db.storedAnswers.push({ key: 'k9', status: 400, body: switchedOff });
    expect(kinds(check(run))).toEqual(['stored-answer-never-given']);
  });
});

describe('chaos mutations', () => {
  it('fail loudly when their target text is not in the compiled file', () => {
    expect(() =>
      applyMutation(join(ROOT, 'dist'), {
        name: 'gone',
        what: 'a target that no longer exists',
        file: 'src/main.js',
        find: 'text that is not in main.js',
        replace: '',
      }),
    ).toThrow(/occurs 0 times in src\/main.js/);
  });

  // The proof that the harness can fail: a build that answers keyed requests before their records commit
  // (a copy of dist/, mutated).
  it('a short seeded run against a mutated build reports a key with two answers', async () => {
    const out = mkdtempSync(join(tmpdir(), 'golden-ticket-chaos-test-'));
    try {
      const child = spawn(
        process.execPath,
        [
          '-r',
          'ts-node/register/transpile-only',
          join(ROOT, 'chaos', 'run.ts'),
          ...['--seconds', '25', '--seed', '7', '--mutate', 'answers-before-commit'],
          ...['--out', out, '--no-faketime'],
        ],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect({ code, stderr: code === 1 ? '' : stderr }).toEqual({ code: 1, stderr: '' });
      expect(stdout).toMatch(/seed 7: \d+ VIOLATIONS .*key-two-answers/);
      expect(stdout).toMatch(/\[key-two-answers\] seed 7: key chaos-7-/);
      const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8'));
      expect(history.mutation).toBe('answers-before-commit');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 240_000);
});
