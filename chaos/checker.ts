import { EXCUSES_503, Entry, Fault, MESSAGES, isFinal, isTransient, messageOf } from './history';
import type { ProbeResult } from './workload';

/** What the database holds once the run is over. */
export interface DbSnapshot {
  events: Array<{
    eventKey: string;
    totalQuantity: number;
    dailyLimit: number | null;
    issuedCount: number;
  }>;
  tickets: Array<{
    ticketId: string;
    eventKey: string;
    userId: number;
    issuedAt: string;
    kstDay: string;
  }>;
  dailyCounts: Array<{ eventKey: string; kstDay: string; issuedCount: number }>;
  /** Keys claimed and never answered. */
  keysInFlight: string[];
  /** Every key's stored answer. */
  storedAnswers: Array<{ key: string; status: number; body: string }>;
}

export interface CheckInput {
  entries: Entry[];
  faults: Fault[];
  db: DbSnapshot;
  probes: ProbeResult[];
  /** Epoch milliseconds of the run's time 0, and what the service clocks add to real time. */
  origin: number;
  fakeOffsetMs: number;
  /** How long after a fault is healed a 503 is still its doing. */
  grace503Ms: number;
}

export interface Violation {
  kind: string;
  message: string;
  /** The entries that show it. */
  entries: number[];
  /** The window of history (run milliseconds) to print around them. */
  from: number;
  to: number;
  eventKey?: string;
}

export interface Report {
  violations: Violation[];
  /** Pairs where a winner's first request was sent after a non-winner's, who was refused cleanly. */
  fcfs: { inversions: number; winnersInvolved: number };
}

export function check(input: CheckInput): Report {
  const violations: Violation[] = [
    ...checkKeys(input.entries),
    ...checkAnswers(input),
    ...checkTickets(input),
    ...checkRecovery(input),
    ...checkStored(input),
  ];
  const fcfs = checkFirstComeFirstServed(input);
  violations.push(...fcfs.violations);
  return { violations, fcfs: { inversions: fcfs.inversions, winnersInvolved: fcfs.winners } };
}

function group<T>(items: Iterable<T>, keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = groups.get(key);
    if (list) list.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

const requestOf = (entry: Entry) => `${entry.method} ${entry.path} ${entry.body}`;
const answerOf = (entry: Entry) => `${entry.status} ${entry.answer}`;

/**
 * One key, one answer: per key, every final answer to the same request (method, path, body) has the same
 * status and body, and only one request owns the key — every other request sent with it got 422.
 */
function checkKeys(entries: Entry[]): Violation[] {
  const violations: Violation[] = [];
  const finals = entries.filter((entry) => entry.key !== undefined && isFinal(entry));
  for (const [key, answers] of group(finals, (entry) => entry.key!)) {
    for (const sameRequest of group(answers, requestOf).values()) {
      const pair = closestPair(sameRequest, (a, b) => answerOf(a) !== answerOf(b));
      if (pair) {
        violations.push({
          kind: 'key-two-answers',
          message: `key ${key}: one request, two final answers (${pair[0].status} then ${pair[1].status})`,
          ...windowWithFirst(pair, answers, entries),
          eventKey: pair[0].eventKey,
        });
      }
    }
    const owning = answers.filter((entry) => entry.status !== 422);
    const pair = closestPair(owning, (a, b) => requestOf(a) !== requestOf(b));
    if (pair) {
      violations.push({
        kind: 'key-two-requests',
        message: `key ${key}: two different requests both answered (neither refused 422)`,
        ...windowWithFirst(pair, answers, entries),
        eventKey: pair[0].eventKey,
      });
    }
  }
  return violations;
}

/** Of entries in time order, the adjacent two that differ and lie closest together. */
function closestPair(
  answers: Entry[],
  differ: (a: Entry, b: Entry) => boolean,
): [Entry, Entry] | undefined {
  const sorted = [...answers].sort((a, b) => a.doneAt - b.doneAt);
  let best: [Entry, Entry] | undefined;
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    if (!differ(a, b)) continue;
    if (!best || b.doneAt - a.sentAt < best[1].doneAt - best[0].sentAt) best = [a, b];
  }
  return best;
}

/** The pair's window, with the key's first final answer shown too (the one the key stands for). */
function windowWithFirst(pair: Entry[], answers: Entry[], entries: Entry[]) {
  const window = windowOf(pair, entries);
  const first = answers.reduce((a, b) => (a.doneAt <= b.doneAt ? a : b));
  if (!window.entries.includes(first.id)) window.entries.unshift(first.id);
  return window;
}

/** The entries of the same key (or user and event) between the first's send and the last's answer. */
function windowOf(
  shown: Entry[],
  entries: Entry[],
): { entries: number[]; from: number; to: number } {
  const from = Math.min(...shown.map((entry) => entry.sentAt));
  const to = Math.max(...shown.map((entry) => entry.doneAt));
  const keys = new Set(shown.flatMap((entry) => (entry.key ? [entry.key] : [])));
  const users = new Set(shown.map((entry) => `${entry.eventKey}/${entry.userId}`));
  const related = entries.filter(
    (entry) =>
      entry.sentAt <= to &&
      entry.doneAt >= from &&
      ((entry.key !== undefined && keys.has(entry.key)) ||
        (entry.key === undefined && users.has(`${entry.eventKey}/${entry.userId}`))),
  );
  return { entries: [...new Set([...related, ...shown].map((entry) => entry.id))], from, to };
}

/**
 * No 5xx but 503, and 503/429 always with Retry-After; a 503 only while a fault that can cause it is
 * active or within the grace after it; no answer outside the ones this workload can get.
 */
function checkAnswers({ entries, faults, grace503Ms }: CheckInput): Violation[] {
  const excusing = faults.filter((fault) => EXCUSES_503.has(fault.kind));
  const violations: Violation[] = [];
  const flag = (entry: Entry, kind: string, message: string) =>
    violations.push({
      kind,
      message,
      entries: [entry.id],
      from: entry.sentAt,
      to: entry.doneAt,
      eventKey: entry.eventKey,
    });
  for (const entry of entries) {
    const { status } = entry;
    if (status === undefined) continue;
    if (status >= 500 && status !== 503) flag(entry, 'server-error', `answered ${status}`);
    else if ((status === 503 || status === 429) && entry.retryAfter === undefined) {
      flag(entry, 'no-retry-after', `${status} without Retry-After`);
    } else if (
      status === 503 &&
      !excusing.some(
        (fault) => fault.startAt <= entry.doneAt && entry.sentAt <= fault.endAt + grace503Ms,
      )
    ) {
      flag(entry, '503-without-fault', '503 while no fault was active nor just healed');
    } else if (!isFinal(entry) && !isTransient(entry)) {
      flag(entry, 'unexpected-answer', `answered ${status} ${entry.answer ?? ''}`);
    }
  }
  return violations;
}

interface TicketBody {
  ticketId: string;
  userId: number;
  eventKey: string;
  issuedAt: string;
}

/**
 * The database against itself and against what was acknowledged: one ticket per user and event, the total
 * and each KST day's cap kept, the counters equal to the tickets, every 2xx naming the ticket that exists.
 */
function checkTickets({ entries, db }: CheckInput): Violation[] {
  const violations: Violation[] = [];
  const dbFlag = (kind: string, message: string, eventKey: string) =>
    violations.push({ kind, message, entries: [], from: 0, to: 0, eventKey });
  const held = new Map<string, DbSnapshot['tickets'][number]>();
  for (const ticket of db.tickets) {
    const id = `${ticket.eventKey}/${ticket.userId}`;
    if (held.has(id))
      dbFlag(
        'two-tickets',
        `user ${ticket.userId} holds two tickets of ${ticket.eventKey}`,
        ticket.eventKey,
      );
    held.set(id, ticket);
    if (ticket.kstDay !== kstDay(Date.parse(ticket.issuedAt))) {
      dbFlag(
        'ticket-kst-day',
        `ticket ${ticket.ticketId} issued ${ticket.issuedAt} counted on ${ticket.kstDay}`,
        ticket.eventKey,
      );
    }
  }
  const perEvent = group(db.tickets, (ticket) => ticket.eventKey);
  const perDay = group(db.tickets, (ticket) => `${ticket.eventKey} ${ticket.kstDay}`);
  for (const event of db.events) {
    const issued = perEvent.get(event.eventKey)?.length ?? 0;
    if (issued > event.totalQuantity) {
      dbFlag(
        'oversold',
        `${event.eventKey}: ${issued} tickets of ${event.totalQuantity}`,
        event.eventKey,
      );
    }
    if (issued !== event.issuedCount) {
      dbFlag(
        'counter-mismatch',
        `${event.eventKey}: issued_count ${event.issuedCount}, tickets ${issued}`,
        event.eventKey,
      );
    }
    for (const [id, tickets] of perDay) {
      const [eventKey, day] = id.split(' ');
      if (eventKey !== event.eventKey) continue;
      if (event.dailyLimit !== null && tickets.length > event.dailyLimit) {
        dbFlag(
          'daily-cap-exceeded',
          `${eventKey}: ${tickets.length} tickets on ${day} (cap ${event.dailyLimit})`,
          eventKey,
        );
      }
      const counted = db.dailyCounts.find((c) => c.eventKey === eventKey && c.kstDay === day);
      if (counted?.issuedCount !== tickets.length) {
        dbFlag(
          'counter-mismatch',
          `${eventKey}: ${day} counted ${counted?.issuedCount ?? 'nothing'}, tickets ${tickets.length}`,
          eventKey,
        );
      }
    }
  }
  for (const entry of entries) {
    if (
      !entry.path.endsWith('/tickets') ||
      !entry.status ||
      entry.status >= 300 ||
      entry.status < 200
    )
      continue;
    const body = JSON.parse(entry.answer ?? '{}') as TicketBody;
    const ticket = held.get(`${entry.eventKey}/${entry.userId}`);
    const flag = (kind: string, message: string) =>
      violations.push({ kind, message, ...windowOf([entry], entries), eventKey: entry.eventKey });
    if (body.userId !== entry.userId || body.eventKey !== entry.eventKey) {
      flag(
        'answer-names-another-ticket',
        `asked for user ${entry.userId}, answered a ticket of user ${body.userId} (${body.eventKey})`,
      );
    } else if (!ticket) {
      flag(
        'acknowledged-ticket-missing',
        `ticket ${body.ticketId} of user ${entry.userId} acknowledged, not in the database`,
      );
    } else if (ticket.ticketId !== body.ticketId || ticket.issuedAt !== body.issuedAt) {
      flag(
        'answer-names-another-ticket',
        `answered ticket ${body.ticketId} (${body.issuedAt}); the user holds ${ticket.ticketId} (${ticket.issuedAt})`,
      );
    }
  }
  return violations;
}

/** After recovery no key is claimed without an answer, and every key sent got a final answer again. */
function checkRecovery({ entries, db, probes }: CheckInput): Violation[] {
  const violations: Violation[] = [];
  const byKey = group(
    entries.filter((entry) => entry.key !== undefined),
    (entry) => entry.key!,
  );
  for (const key of db.keysInFlight) {
    const shown = (byKey.get(key) ?? []).slice(-3);
    violations.push({
      kind: 'key-in-flight-after-recovery',
      message: `key ${key} is still claimed without an answer in the database after recovery`,
      ...(shown.length ? windowOf(shown, entries) : { entries: [], from: 0, to: 0 }),
    });
  }
  for (const probe of probes.filter((candidate) => !candidate.final)) {
    const last = entries[probe.last];
    violations.push({
      kind: 'no-final-answer-after-recovery',
      message: `key ${probe.key}: no final answer after recovery (probe round ${probe.round}: ${last.status ?? last.error} ${messageOf(last) ?? ''})`,
      ...windowOf([last], entries),
      eventKey: last.eventKey,
    });
  }
  return violations;
}

/** How long after an answer its record's loss is blamed on what happened then (a write-behind's reach). */
const STORED_WINDOW_MS = 5_000;

/**
 * An answer to a keyed request is sent only once it is stored: after the run, every key that got a final
 * answer other than 422 has a record, holding one of the answers given.
 */
function checkStored({ entries, db }: CheckInput): Violation[] {
  const violations: Violation[] = [];
  const stored = new Map(db.storedAnswers.map((record) => [record.key, record]));
  const owning = entries.filter(
    (entry) => entry.key !== undefined && isFinal(entry) && entry.status !== 422,
  );
  for (const [key, answers] of group(owning, (entry) => entry.key!)) {
    const first = answers.reduce((a, b) => (a.doneAt <= b.doneAt ? a : b));
    const record = stored.get(key);
    if (record && answers.some((e) => e.status === record.status && e.answer === record.body)) {
      continue;
    }
    const window = windowOf([first], entries);
    violations.push({
      kind: record ? 'stored-answer-never-given' : 'answer-not-stored',
      message: record
        ? `key ${key}: the database holds ${record.status} ${record.body.slice(0, 80)}, an answer never given`
        : `key ${key}: answered ${first.status}, but no record of the key exists after the run`,
      ...window,
      to: window.to + STORED_WINDOW_MS,
      eventKey: first.eventKey,
    });
  }
  return violations;
}

function kstDay(epochMs: number): string {
  return new Date(epochMs + 9 * 3_600_000).toISOString().slice(0, 10);
}

/**
 * First come, first served. A non-winner refused cleanly (never a 503, 429, time-out or reset for that
 * event) with "sold out" — or "today's cap" within one KST day — was refused before any later arrival
 * could win: a winner whose first request was sent after that refusal was received is a violation. A
 * winner sent after the non-winner's first request but before its refusal arrived raced it on another
 * instance or in another batch; those pairs are counted, not failed (the database orders requests in
 * flight together, not the clients' clocks).
 */
function checkFirstComeFirstServed(input: CheckInput): {
  violations: Violation[];
  inversions: number;
  winners: number;
} {
  const { entries, db } = input;
  const fakeDay = (runMs: number) => kstDay(input.origin + runMs + input.fakeOffsetMs);
  const violations: Violation[] = [];
  let inversions = 0;
  const winnersInvolved = new Set<string>();
  const userEntries = entries.filter(
    (entry) => entry.actor.startsWith('user:') && entry.path.endsWith('/tickets'),
  );
  const byEvent = group(userEntries, (entry) => entry.eventKey);
  const ticketsByEvent = group(db.tickets, (ticket) => ticket.eventKey);
  for (const [eventKey, eventEntries] of byEvent) {
    const tickets = new Map((ticketsByEvent.get(eventKey) ?? []).map((t) => [t.userId, t]));
    const byUser = group(eventEntries, (entry) => String(entry.userId));
    const refused: Array<{ first: Entry; told: Entry; day?: string }> = [];
    const winners: Array<{ first: Entry; day: string; userId: number }> = [];
    for (const [userId, mine] of byUser) {
      const first = mine.reduce((a, b) => (a.sentAt <= b.sentAt ? a : b));
      const ticket = tickets.get(Number(userId));
      if (ticket) {
        winners.push({ first, day: ticket.kstDay, userId: Number(userId) });
        continue;
      }
      if (mine.some(isTransient)) continue;
      const told = mine
        .filter(
          (entry) =>
            // A replay repeats a decision made earlier (perhaps on the KST day before): only the
            // decision itself says when the refusal was made.
            entry.status === 409 &&
            !entry.replayed &&
            (messageOf(entry) === MESSAGES.soldOut ||
              (messageOf(entry) === MESSAGES.dailyCap &&
                fakeDay(entry.sentAt) === fakeDay(entry.doneAt))),
        )
        .sort((a, b) => a.doneAt - b.doneAt)[0];
      if (told) {
        const capped = messageOf(told) === MESSAGES.dailyCap;
        refused.push({ first, told, ...(capped ? { day: fakeDay(told.doneAt) } : {}) });
      }
    }
    for (const winner of winners) {
      let reported = false;
      for (const loser of refused) {
        if (loser.day !== undefined && loser.day !== winner.day) continue;
        if (winner.first.sentAt > loser.told.doneAt) {
          if (reported) continue;
          reported = true;
          violations.push({
            kind: loser.day ? 'fcfs-capped-then-won' : 'fcfs-sold-out-then-won',
            message: `${eventKey}: user ${winner.userId} sent its first request after user ${loser.told.userId} was told "${messageOf(loser.told)}", and won`,
            ...windowOf([loser.told, winner.first], entries),
            eventKey,
          });
        } else if (winner.first.sentAt > loser.first.sentAt) {
          inversions += 1;
          winnersInvolved.add(`${eventKey}/${winner.userId}`);
        }
      }
    }
  }
  return { violations, inversions, winners: winnersInvolved.size };
}
