import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cleanup } from './system';

/**
 * A deliberate break of the compiled service, to prove the checker catches what it is meant to catch. Each
 * is one text replacement in one compiled file of a copy of dist/: production code has no switch for it.
 * The target text must occur exactly once, so a mutation whose code changed fails loudly instead of
 * silently testing nothing.
 */
export interface Mutation {
  name: string;
  what: string;
  /** The violation kinds a run against it is expected to report (the checks it proves). */
  caught: readonly string[];
  /** Relative to dist/. */
  file: string;
  find: string;
  replace: string;
}

export const MUTATIONS: readonly Mutation[] = [
  {
    name: 'issuance-skips-key-records',
    what: "the issuance batch writes its tickets but not its keys' records: a resend to another instance is decided afresh",
    caught: ['key-two-answers', 'answer-not-stored'],
    file: 'src/tickets/issuance.repository.js',
    find: 'const keyRows = answered.map(',
    replace: 'const keyRows = [].map(',
  },
  {
    name: 'answers-before-commit',
    what: "keyed answers given from memory go out before their records commit, and a key's stored answer is not consulted",
    caught: ['key-two-answers'],
    file: 'src/idempotency/answer-group-commit.js',
    find: 'return this.batcher.submit(lane, { request, response, now });',
    replace:
      "void this.batcher.submit(lane, { request, response, now }).catch(() => undefined); return Promise.resolve({ kind: 'stored' });",
  },
  {
    name: 'replays-unmarked',
    what: 'a replay goes out without Idempotent-Replayed: true',
    caught: ['replay-not-marked'],
    file: 'src/idempotency/idempotency-hooks.js',
    find: ".header('idempotent-replayed', 'true');",
    replace: ';',
  },
  {
    name: 'replays-without-stored-headers',
    what: "a replay goes out without its stored headers (Content-Type falls back to Fastify's text/plain)",
    caught: ['replay-headers-differ'],
    file: 'src/idempotency/idempotency-hooks.js',
    find: '.headers(response.headers)',
    replace: '',
  },
  {
    name: 'two-keys-joined',
    what: 'two Idempotency-Key headers are not refused: the service takes Node\'s joined "a1, a2" as one key',
    caught: ['two-keys-accepted'],
    file: 'src/idempotency/idempotency-rules.js',
    find: 'if (keyHeaderLines(rawHeaders) > 1)',
    replace: 'if (false)',
  },
  {
    name: 'holders-refused-from-memory',
    what: 'a settled event (sold out, capped) answers from memory as if nobody held a ticket: an unkeyed holder is refused',
    caught: ['holder-refused'],
    file: 'src/tickets/final-refusals.js',
    find: '{ held: settled.holders, issuedToday }',
    replace: '{ held: new Map(), issuedToday }',
  },
  {
    name: 'repeat-answered-201',
    what: 'a user who holds the ticket is answered 201 instead of 200 (unkeyed, or with a new key)',
    caught: ['second-201'],
    file: 'src/tickets/ticket-answers.js',
    find: "kind: 'already-held', status: 200",
    replace: "kind: 'already-held', status: 201",
  },
  {
    name: 'cap-settled-early',
    what: "a process takes today's cap as reached ten tickets early and refuses from memory, while the database still issues the last ten",
    caught: ['fcfs-capped-then-won', 'refused-then-won'],
    file: 'src/tickets/final-refusals.js',
    find: 'issuedToday >= event.dailyLimit;',
    replace: 'issuedToday >= event.dailyLimit - 10;',
  },
  {
    name: 'period-opens-late',
    what: 'an event opens 3 s after its startAt: a user refused "outside the period" once it was open wins later',
    caught: ['refused-then-won'],
    file: 'src/events/event.model.js',
    find: 'this.startAt.getTime() <= second',
    replace: 'this.startAt.getTime() + 3000 <= second',
  },
  {
    name: 'utc-day-stamp',
    what: 'the service day is the UTC day, not the KST day (tickets after 00:00 KST counted on the day before)',
    caught: ['ticket-kst-day'],
    file: 'src/common/time.js',
    find: 'date.getTime() + KST_OFFSET_MS',
    replace: 'date.getTime()',
  },
  {
    name: 'count-row-a-week-ahead',
    what: "every day's count is also added to the count row of the same day a week later, a day without tickets",
    caught: ['counter-mismatch'],
    file: 'src/tickets/issuance.repository.js',
    find: 'SELECT ?::bigint, ?::date, ?::int, ?::int WHERE ?::int > 0',
    replace:
      'SELECT s.e, s.d + v.o, s.c, s.l FROM (SELECT ?::bigint AS e, ?::date AS d, ?::int AS c, ?::int AS l WHERE ?::int > 0) s CROSS JOIN (VALUES (0), (7)) v(o)',
  },
  {
    name: 'spurious-503',
    what: 'one ticket request in 50 is answered 503 (with Retry-After) whatever the instance and the database do',
    caught: ['503-without-fault'],
    file: 'src/tickets/ticket-issuance.service.js',
    find: 'async issue(eventKey, request) {',
    replace:
      'async issue(eventKey, request) { if (Math.random() < 0.02) throw new domain_errors_1.ServiceUnavailableError();',
  },
];

/**
 * A copy of `root`/dist with the named mutation applied, in a temp folder removed by `cleanup`; its
 * node_modules is a link to the project's, so the copy runs as the original does. Returns the copy's
 * dist folder.
 */
export function mutatedBuild(root: string, name: string, cleanup: Cleanup): string {
  const mutation = MUTATIONS.find((candidate) => candidate.name === name);
  if (!mutation) {
    throw new Error(
      `unknown mutation "${name}"; known: ${MUTATIONS.map((m) => m.name).join(', ')}`,
    );
  }
  const folder = mkdtempSync(join(tmpdir(), 'golden-ticket-mutant-'));
  cleanup.add('mutated build', () => rmSync(folder, { recursive: true, force: true }));
  const dist = join(folder, 'dist');
  cpSync(join(root, 'dist'), dist, { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(folder, 'node_modules'), 'dir');
  applyMutation(dist, mutation);
  return dist;
}

export function applyMutation(dist: string, mutation: Mutation): void {
  const path = join(dist, mutation.file);
  writeFileSync(path, mutationTarget(dist, mutation).replace(mutation.find, mutation.replace));
}

/** The compiled file a mutation breaks, once its target text is found there exactly once. */
export function mutationTarget(dist: string, mutation: Mutation): string {
  const text = readFileSync(join(dist, mutation.file), 'utf8');
  const found = text.split(mutation.find).length - 1;
  if (found !== 1) {
    throw new Error(
      `mutation ${mutation.name}: its target text occurs ${found} times in ${mutation.file} (expected once); ` +
        'the code it breaks has changed — update chaos/mutations.ts',
    );
  }
  return text;
}
