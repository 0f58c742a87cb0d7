import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckInput, check } from '../chaos/checker';
import { Entry, MESSAGES, isFinal } from '../chaos/history';
import { MUTATIONS, applyMutation, mutationTarget } from '../chaos/mutations';

const ROOT = join(__dirname, '..');
/** The run's time 0 on the service clock: 23:59 KST, so 00:00 KST is at +60 s. */
const ORIGIN = Date.parse('2026-03-10T14:59:00Z');
const MIDNIGHT = 60_000;
const at = (runMs: number) => new Date(ORIGIN + runMs).toISOString().slice(0, 19) + 'Z';
const error = (statusCode: number, message: string) => JSON.stringify({ statusCode, message });
const soldOut = error(409, MESSAGES.soldOut);
const dailyCap = error(409, MESSAGES.dailyCap);
const switchedOff = error(400, MESSAGES.switchedOff);
const outsidePeriod = error(400, MESSAGES.outsidePeriod);
const twoKeysRefused = error(400, MESSAGES.twoKeys);
const unavailable = error(503, '일시적으로 …');
const JSON_TYPE = 'application/json; charset=utf-8';

function ticketOf(userId: number, issuedAtRunMs = 5, ticketId = `t${userId}`) {
  const issuedAtMs = ORIGIN + issuedAtRunMs;
  return {
    ticketId,
    eventKey: 'e',
    userId,
    issuedAt: at(issuedAtRunMs),
    issuedAtMs,
    kstDay: new Date(issuedAtMs + 9 * 3_600_000).toISOString().slice(0, 10),
  };
}
const bodyOf = (ticket: ReturnType<typeof ticketOf>) =>
  JSON.stringify({
    ticketId: ticket.ticketId,
    userId: ticket.userId,
    eventKey: ticket.eventKey,
    issuedAt: ticket.issuedAt,
  });
const ticket = bodyOf(ticketOf(2));

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
    contentType: JSON_TYPE,
    ...fields,
  };
}

/** A ticket request of `userId` (its own key unless given), answered `status` and `answer`. */
function ask(userId: number, status: number, answer: string, fields: Partial<Entry> = {}): Entry {
  return entry({
    actor: `user:${userId}`,
    key: `u${userId}`,
    userId,
    body: JSON.stringify({ userId }),
    status,
    answer,
    ...fields,
  });
}

function input(entries: Entry[], faults: CheckInput['faults'] = []): CheckInput {
  entries.forEach((e, i) => (e.id = i));
  return {
    entries,
    faults,
    db: {
      events: [
        {
          eventKey: 'e',
          totalQuantity: 1,
          dailyLimit: null,
          issuedCount: 0,
          startAt: at(-3_600_000),
          endAt: at(86_400_000),
        },
      ],
      tickets: [],
      dailyCounts: [],
      keysInFlight: [],
      storedAnswers: [
        { key: 'k1', status: 409, body: soldOut },
        { key: 'k2', status: 201, body: ticket },
      ],
    },
    probes: [],
    origin: ORIGIN,
    fakeOffsetMs: 0,
    grace503Ms: 1_000,
  };
}

/**
 * The run with these tickets in the database, its counters equal to them, and a record for every key
 * answered (its first final answer other than 422): only what a test plants is wrong.
 */
function held(run: CheckInput, ...tickets: Array<ReturnType<typeof ticketOf>>): CheckInput {
  run.db.tickets.push(...tickets);
  run.db.events[0].issuedCount = run.db.tickets.length;
  run.db.events[0].totalQuantity = Math.max(run.db.events[0].totalQuantity, run.db.tickets.length);
  const days = new Map<string, number>();
  for (const t of run.db.tickets) days.set(t.kstDay, (days.get(t.kstDay) ?? 0) + 1);
  run.db.dailyCounts = [...days].map(([kstDay, issuedCount]) => ({
    eventKey: 'e',
    kstDay,
    issuedCount,
  }));
  return withRecords(run);
}

function withRecords(run: CheckInput): CheckInput {
  for (const e of [...run.entries].sort((a, b) => a.doneAt - b.doneAt)) {
    if (!e.key || !isFinal(e) || e.status === 422) continue;
    if (run.db.storedAnswers.some((record) => record.key === e.key)) continue;
    run.db.storedAnswers.push({ key: e.key, status: e.status!, body: e.answer! });
  }
  return run;
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

  it('passes a clean history of holders, refusals, repeats and switches', () => {
    const t2 = ticketOf(2, 25);
    const run = held(
      input([
        // A holder: 201, its replay, a resend without a key and one with a new key — 200 both.
        ask(2, 201, bodyOf(t2), { sentAt: 20, doneAt: 30 }),
        ask(2, 201, bodyOf(t2), { sentAt: 40, doneAt: 50, replayed: true }),
        ask(2, 200, bodyOf(t2), { key: undefined, sentAt: 60, doneAt: 70 }),
        ask(2, 200, bodyOf(t2), { key: 'u2-again', sentAt: 80, doneAt: 90 }),
        // Refused sold out (decided, then replayed); two Idempotency-Key headers refused 400.
        ask(3, 409, soldOut, { sentAt: 100, doneAt: 110 }),
        ask(3, 409, soldOut, { sentAt: 120, doneAt: 130, replayed: true }),
        ask(4, 400, twoKeysRefused, { key: undefined, twoKeys: ['x1', 'x2'], why: 'two-keys' }),
      ]),
      t2,
    );
    expect(check(run).violations).toEqual([]);
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
    expect(kinds(report)).toEqual(['key-two-answers', 'replay-not-marked']);
    expect(report.violations[0]).toMatchObject({ entries: [0, 2], from: 0, to: 30 });
  });

  it('fails two requests owning one key, and a 5xx that is not a 503 with Retry-After', () => {
    const report = check(
      input([
        entry({}),
        entry({ body: '{"userId":2}', userId: 2, sentAt: 20, doneAt: 30, replayed: true }),
        entry({ key: 'k2', status: 500, answer: unavailable, sentAt: 40, doneAt: 41 }),
        entry({ key: 'k3', status: 503, answer: unavailable, sentAt: 40, doneAt: 41 }),
      ]),
    );
    expect(kinds(report)).toEqual(['key-two-requests', 'server-error', 'no-retry-after']);
  });

  describe('replays', () => {
    it('fails a replay whose Content-Type or Retry-After differs from the first answer', () => {
      for (const changed of [{ contentType: 'text/plain; charset=utf-8' }, { retryAfter: '1' }]) {
        const report = check(
          input([entry({}), entry({ sentAt: 20, doneAt: 30, replayed: true, ...changed })]),
        );
        expect(kinds(report)).toEqual(['replay-headers-differ']);
        expect(report.violations[0].message).toMatch(/Content-Type .*, then with Content-Type/);
      }
    });

    it('fails a second answer of one key without Idempotent-Replayed: true', () => {
      const report = check(input([entry({}), entry({ sentAt: 20, doneAt: 30, instance: 'b' })]));
      expect(kinds(report)).toEqual(['replay-not-marked']);
      expect(report.violations[0]).toMatchObject({ entries: [0, 1] });
    });
  });

  describe('503', () => {
    const at503 = (sentAt: number, instance = 'a') =>
      entry({
        key: `k${sentAt}${instance}`,
        instance,
        status: 503,
        answer: unavailable,
        retryAfter: '1',
        sentAt,
        doneAt: sentAt + 5,
      });

    it('excuses a 503 only during a fault that can cause it, or just after', () => {
      const faults = [{ kind: 'db-pause' as const, target: 'postgres', startAt: 100, endAt: 200 }];
      expect(kinds(check(input([at503(150), at503(1_100)], faults)))).toEqual([]);
      expect(kinds(check(input([at503(1_300)], faults)))).toEqual(['503-without-fault']);
    });

    it("excuses a kill or SIGTERM's 503s only on the instance it hit; the database's on every one", () => {
      for (const kind of ['kill-9', 'sigterm'] as const) {
        const faults = [{ kind, target: 'a', startAt: 100, endAt: 200 }];
        const report = check(input([at503(150, 'a'), at503(150, 'b'), at503(150, 'c')], faults));
        expect(report.violations.map((v) => [v.kind, v.message])).toEqual([
          ['503-without-fault', expect.stringContaining('instance b')],
          ['503-without-fault', expect.stringContaining('instance c')],
        ]);
      }
      for (const kind of ['db-pause', 'db-cut'] as const) {
        const faults = [{ kind, target: 'postgres', startAt: 100, endAt: 200 }];
        expect(kinds(check(input([at503(150, 'b'), at503(150, 'c')], faults)))).toEqual([]);
      }
      for (const kind of ['redis-stop', 'late-start', 'midnight-kst'] as const) {
        const faults = [{ kind, target: 'c', startAt: 100, endAt: 200 }];
        expect(kinds(check(input([at503(150, 'c')], faults)))).toEqual(['503-without-fault']);
      }
    });
  });

  it('fails an answer this workload cannot get', () => {
    const report = check(
      input([entry({ status: 400, answer: error(400, 'userId은(는) 1 이상이어야 합니다.') })]),
    );
    expect(kinds(report)).toEqual(['unexpected-answer']);
  });

  it('fails a request with two Idempotency-Key headers answered other than 400, or leaving a record', () => {
    const twoKeys = (fields: Partial<Entry>) =>
      ask(4, 400, twoKeysRefused, { key: undefined, twoKeys: ['x1', 'x2'], ...fields });
    expect(kinds(check(input([twoKeys({ status: 429, answer: '{}', retryAfter: '1' })])))).toEqual(
      [],
    );
    const t4 = ticketOf(4);
    const accepted = check(held(input([twoKeys({ status: 201, answer: bodyOf(t4) })]), t4));
    expect(kinds(accepted)).toEqual(['two-keys-accepted']);
    expect(accepted.violations[0].message).toMatch(/answered 201/);
    const run = input([twoKeys({})]);
    run.db.storedAnswers.push({ key: 'x1, x2', status: 400, body: twoKeysRefused });
    const kept = check(run);
    expect(kinds(kept)).toEqual(['two-keys-accepted']);
    expect(kept.violations[0].message).toMatch(/a record of "x1, x2" kept/);
  });

  describe('the database', () => {
    it('fails two tickets of one user, more than the total, and more than the cap on a KST day', () => {
      const run = held(input([]), ticketOf(1, 5, 'ta'), ticketOf(1, 6, 'tb'), ticketOf(2, 7));
      run.db.events[0].totalQuantity = 2;
      run.db.events[0].dailyLimit = 2;
      expect(kinds(check(run))).toEqual(['two-tickets', 'oversold', 'daily-cap-exceeded']);
    });

    it("fails a counter unequal to the tickets: the event's, a day's, and a day's row without tickets", () => {
      const tickets = [ticketOf(1), ticketOf(2)];
      const counted = () => held(input([]), ...tickets);
      expect(kinds(check(counted()))).toEqual([]);
      const event = counted();
      event.db.events[0].issuedCount = 3;
      expect(check(event).violations.map((v) => v.message)).toEqual([
        'e: issued_count 3, tickets 2',
      ]);
      const day = counted();
      day.db.dailyCounts[0].issuedCount = 1;
      expect(check(day).violations.map((v) => v.message)).toEqual([
        'e: 2026-03-10 counted 1, tickets 2',
      ]);
      const missing = counted();
      missing.db.dailyCounts = [];
      expect(check(missing).violations.map((v) => v.message)).toEqual([
        'e: 2026-03-10 counted nothing, tickets 2',
      ]);
      const dayWithout = counted();
      dayWithout.db.dailyCounts.push({ eventKey: 'e', kstDay: '2026-03-17', issuedCount: 2 });
      dayWithout.db.dailyCounts.push({ eventKey: 'e', kstDay: '2026-03-18', issuedCount: 0 });
      expect(check(dayWithout).violations.map((v) => [v.kind, v.message])).toEqual([
        ['counter-mismatch', 'e: 2026-03-17 counted 2, tickets 0'],
      ]);
    });

    it('fails a ticket counted on another KST day than its issuedAt', () => {
      const afterMidnight = ticketOf(1, MIDNIGHT + 1_000);
      expect(afterMidnight.kstDay).toBe('2026-03-11');
      expect(kinds(check(held(input([]), { ...afterMidnight, kstDay: '2026-03-10' })))).toEqual([
        'ticket-kst-day',
      ]);
    });
  });

  describe('answers naming tickets', () => {
    it('fails an acknowledged ticket the database does not hold, and a refusal followed by a later winner', () => {
      const run = input([
        entry({ sentAt: 0, doneAt: 10 }),
        ask(2, 201, ticket, { key: 'k2', sentAt: 20, doneAt: 30 }),
      ]);
      expect(kinds(check(run))).toEqual(['acknowledged-ticket-missing']);
      expect(kinds(check(held(run, ticketOf(2, 25))))).toEqual(['fcfs-sold-out-then-won']);
    });

    it("fails a 2xx naming another user's ticket, or another ticket than the user holds", () => {
      const t1 = ticketOf(1);
      const other = check(held(input([ask(1, 200, bodyOf(ticketOf(2)))]), t1));
      expect(kinds(other)).toEqual(['answer-names-another-ticket']);
      expect(other.violations[0].message).toMatch(/answered a ticket of user 2/);
      const wrong = check(held(input([ask(1, 200, bodyOf(ticketOf(1, 5, 'tx')))]), t1));
      expect(kinds(wrong)).toEqual(['answer-names-another-ticket']);
      expect(wrong.violations[0].message).toMatch(/answered ticket tx .* the user holds t1/);
    });
  });

  describe('one user and one event, across keys and without one', () => {
    it('fails a second 201: two decisions, or a 201 after the ticket was answered 200', () => {
      const t1 = ticketOf(1);
      const twice = [
        ask(1, 201, bodyOf(t1), { sentAt: 0, doneAt: 10 }),
        ask(1, 201, bodyOf(t1), { key: undefined, sentAt: 20, doneAt: 30 }),
      ];
      expect(kinds(check(held(input(twice), t1)))).toEqual(['second-201']);
      const afterHeld = [
        ask(1, 200, bodyOf(t1), { key: undefined, sentAt: 0, doneAt: 10 }),
        ask(1, 201, bodyOf(t1), { key: 'new', sentAt: 20, doneAt: 30 }),
      ];
      expect(kinds(check(held(input(afterHeld), t1)))).toEqual(['second-201']);
    });

    it('fails any refusal of a holder sent after its ticket was answered', () => {
      const t1 = ticketOf(1);
      const won = ask(1, 201, bodyOf(t1), { sentAt: 0, doneAt: 10 });
      for (const refusal of [
        ask(1, 409, soldOut, { key: undefined }),
        ask(1, 400, switchedOff, { key: undefined }),
        ask(1, 409, dailyCap, { key: 'new' }),
        ask(1, 400, outsidePeriod, { key: 'new' }),
      ]) {
        refusal.sentAt = 20;
        refusal.doneAt = 30;
        const report = check(held(input([won, refusal]), t1));
        expect(kinds(report)).toEqual(['holder-refused']);
        expect(report.violations[0]).toMatchObject({ from: 0, to: 30 });
      }
    });

    it('fails "sold out" to a user whose ticket was issued meanwhile, whichever came first', () => {
      const t1 = ticketOf(1, 15);
      const run = held(
        input([
          ask(1, 409, soldOut, { key: undefined, sentAt: 10, doneAt: 20 }),
          ask(1, 201, bodyOf(t1), { sentAt: 12, doneAt: 40 }),
        ]),
        t1,
      );
      expect(kinds(check(run))).toEqual(['holder-refused']);
    });

    it('fails a refused user who wins later where the rules do not allow it, and passes where they do', () => {
      const won = (issuedAt: number) => {
        const t1 = ticketOf(1, issuedAt);
        return [
          ask(1, 201, bodyOf(t1), { key: 'again', sentAt: issuedAt, doneAt: issuedAt + 5 }),
          t1,
        ] as const;
      };
      const verdict = (refusal: Entry, issuedAt: number, more: Entry[] = []) => {
        const [win, t1] = won(issuedAt);
        return kinds(check(held(input([refusal, ...more, win]), t1)));
      };
      const refused = (answer: string, sentAt = 0) =>
        ask(1, answer === soldOut || answer === dailyCap ? 409 : 400, answer, {
          key: undefined,
          sentAt,
          doneAt: sentAt + 10,
        });
      expect(verdict(refused(soldOut), 1_000)).toEqual(['refused-then-won']);
      // Today's cap: a win the same KST day breaks it, one after 00:00 KST does not.
      expect(verdict(refused(dailyCap), 1_000)).toEqual(['refused-then-won']);
      expect(verdict(refused(dailyCap), MIDNIGHT + 1_000)).toEqual([]);
      // Outside the period: before it opened, a later win is fine; refused once it was open, not.
      const early = refused(outsidePeriod);
      const run = (startAt: string) => {
        const [win, t1] = won(3_000);
        const r = held(input([early, win]), t1);
        r.db.events[0].startAt = startAt;
        return kinds(check(r));
      };
      expect(run(at(2_000))).toEqual([]);
      expect(run(at(-1_000))).toEqual(['refused-then-won']);
      // Switched off: a win after a switch-on is fine; without one, not.
      const switchOn = (sentAt: number, fields: Partial<Entry> = {}) =>
        entry({
          actor: 'operator',
          method: 'PATCH',
          path: '/events/e',
          body: '{"isActive":true}',
          key: `on-${sentAt}`,
          status: 200,
          answer: '{}',
          sentAt,
          doneAt: sentAt + 10,
          ...fields,
        });
      expect(verdict(refused(switchedOff), 1_000)).toEqual(['refused-then-won']);
      expect(verdict(refused(switchedOff), 1_000, [switchOn(500)])).toEqual([]);
      // A switch-on answered 1.5 s before the refusal was long honoured; one without an answer may
      // have landed any time after it was sent.
      expect(verdict(refused(switchedOff, 3_000), 5_000, [switchOn(1_500)])).toEqual([
        'refused-then-won',
      ]);
      expect(
        verdict(refused(switchedOff, 3_000), 5_000, [
          switchOn(1_500, { status: undefined, answer: undefined, error: 'timeout' }),
        ]),
      ).toEqual([]);
    });
  });

  describe('first come, first served', () => {
    it("fails a later arrival winning the same KST day after another user was told today's cap", () => {
      const history = (issuedAt: number, loserFields: Partial<Entry> = {}, more: Entry[] = []) => {
        const t2 = ticketOf(2, issuedAt);
        return kinds(
          check(
            held(
              input([
                ask(1, 409, dailyCap, { sentAt: 0, doneAt: 10, ...loserFields }),
                ...more,
                ask(2, 201, bodyOf(t2), { sentAt: issuedAt, doneAt: issuedAt + 10 }),
              ]),
              t2,
            ),
          ),
        );
      };
      expect(history(1_000)).toEqual(['fcfs-capped-then-won']);
      expect(history(MIDNIGHT + 1_000)).toEqual([]);
      // A replayed refusal was decided earlier, perhaps the day before: it says nothing of when.
      expect(history(1_000, { replayed: true })).toEqual([]);
    });

    it('drops a loser only for a transient answer before its refusal', () => {
      const history = (transientAt: number) => {
        const t2 = ticketOf(2, 1_000);
        return kinds(
          check(
            held(
              input(
                [
                  ask(1, 503, unavailable, {
                    retryAfter: '1',
                    sentAt: transientAt,
                    doneAt: transientAt + 5,
                  }),
                  ask(1, 409, soldOut, { sentAt: 100, doneAt: 110 }),
                  ask(2, 201, bodyOf(t2), { sentAt: 1_000, doneAt: 1_010 }),
                ],
                [{ kind: 'db-pause', target: 'postgres', startAt: 0, endAt: 3_000 }],
              ),
              t2,
            ),
          ),
        );
      };
      expect(history(0)).toEqual([]);
      expect(history(500)).toEqual(['fcfs-sold-out-then-won']);
    });
  });

  it('fails a key answered without a record of its answer after the run', () => {
    const run = input([entry({ key: 'k9' })]);
    expect(kinds(check(run))).toEqual(['answer-not-stored']);
    run.db.storedAnswers.push({ key: 'k9', status: 400, body: switchedOff });
    expect(kinds(check(run))).toEqual(['stored-answer-never-given']);
  });

  it('fails a key still claimed after recovery, and a probe that got no final answer', () => {
    const run = input([
      entry({}),
      entry({
        why: 'probe',
        actor: 'probe',
        status: 503,
        answer: unavailable,
        retryAfter: '1',
        sentAt: 20,
        doneAt: 30,
      }),
    ]);
    run.faults.push({ kind: 'db-cut', target: 'postgres', startAt: 20, endAt: 30 });
    run.db.keysInFlight.push('k1');
    run.probes.push({
      round: 1,
      key: 'k1',
      path: '/events/e/tickets',
      body: '{"userId":1}',
      last: 1,
      final: false,
    });
    expect(kinds(check(run))).toEqual([
      'key-in-flight-after-recovery',
      'no-final-answer-after-recovery',
    ]);
  });
});

describe('chaos mutations', () => {
  it('fail loudly when their target text is not in the compiled file', () => {
    expect(() =>
      applyMutation(join(ROOT, 'dist'), {
        name: 'gone',
        what: 'a target that no longer exists',
        caught: [],
        file: 'src/main.js',
        find: 'text that is not in main.js',
        replace: '',
      }),
    ).toThrow(/occurs 0 times in src\/main.js/);
  });

  // The by-hand mutation runs (chaos/README.md) stay runnable: a change to the code a mutation breaks fails
  // here, in the suite, instead of at the next run of the list.
  it.each(MUTATIONS.map((mutation) => [mutation.name, mutation]))(
    '%s still finds its target once in the production build',
    (_name, mutation) => {
      expect(() => mutationTarget(join(ROOT, 'dist'), mutation)).not.toThrow();
    },
  );

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
