import { Entry, Fault, MESSAGES, isFinal, isTransient, mayCause503, messageOf } from './history';
import type { ProbeResult } from './workload';

/** What the database holds once the run is over. */
export interface DbSnapshot {
  events: Array<{
    eventKey: string;
    totalQuantity: number;
    dailyLimit: number | null;
    issuedCount: number;
    /** The period, ISO-8601 on the service clock. */
    startAt: string;
    endAt: string;
  }>;
  tickets: Array<{
    ticketId: string;
    eventKey: string;
    userId: number;
    /** As the wire writes it (whole seconds). */
    issuedAt: string;
    /** Epoch milliseconds as stored, on the service clock: when the batch that issued it decided. */
    issuedAtMs: number;
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
    ...checkUsers(input),
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
/** The headers a replay repeats with its status and body (the ones the service stores). */
const headersOf = (entry: Entry) =>
  `Content-Type ${entry.contentType ?? '(none)'}, Retry-After ${entry.retryAfter ?? '(none)'}`;
const byDoneAt = (a: Entry, b: Entry) => a.doneAt - b.doneAt;

/**
 * One key, one answer: per key, every final answer to the same request (method, path, body) has the same
 * status, body and stored headers, and only one request owns the key — every other request sent with it
 * got 422. Of the owner's answers one is the decision; every other is a replay, marked
 * `Idempotent-Replayed: true`.
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
        continue;
      }
      const headers = closestPair(sameRequest, (a, b) => headersOf(a) !== headersOf(b));
      if (headers) {
        violations.push({
          kind: 'replay-headers-differ',
          message: `key ${key}: one answer (${headers[0].status}) given with ${headersOf(headers[0])}, then with ${headersOf(headers[1])}`,
          ...windowWithFirst(headers, answers, entries),
          eventKey: headers[0].eventKey,
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
    const unmarked = owning.filter((entry) => !entry.replayed).sort(byDoneAt);
    if (unmarked.length > 1) {
      violations.push({
        kind: 'replay-not-marked',
        message: `key ${key}: ${unmarked.length} final answers without Idempotent-Replayed: true (one decides, every other is a replay)`,
        ...windowWithFirst(unmarked.slice(0, 2), answers, entries),
        eventKey: unmarked[0].eventKey,
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

/** The window from the first shown entry's send to the last one's answer, with the entries in it `belongs` picks. */
function windowAround(
  shown: Entry[],
  entries: Entry[],
  belongs: (entry: Entry) => boolean,
): { entries: number[]; from: number; to: number } {
  const from = Math.min(...shown.map((entry) => entry.sentAt));
  const to = Math.max(...shown.map((entry) => entry.doneAt));
  const related = entries.filter(
    (entry) => entry.sentAt <= to && entry.doneAt >= from && belongs(entry),
  );
  return { entries: [...new Set([...related, ...shown].map((entry) => entry.id))], from, to };
}

/** The entries of the same key (or user and event, without a key) between the first's send and the last's answer. */
function windowOf(shown: Entry[], entries: Entry[]) {
  const keys = new Set(shown.flatMap((entry) => (entry.key ? [entry.key] : [])));
  const users = new Set(shown.map((entry) => `${entry.eventKey}/${entry.userId}`));
  return windowAround(shown, entries, (entry) =>
    entry.key !== undefined ? keys.has(entry.key) : users.has(`${entry.eventKey}/${entry.userId}`),
  );
}

/** Every entry of one user and event, with a key or without, between the first's send and the last's answer. */
function windowOfUser(shown: Entry[], entries: Entry[]) {
  const { eventKey, userId } = shown[0];
  return windowAround(
    shown,
    entries,
    (entry) => entry.eventKey === eventKey && entry.userId === userId,
  );
}

/**
 * No 5xx but 503, and 503/429 always with Retry-After; a 503 only while a fault that can cause it on the
 * instance that answered is active or within the grace after it; a request with two Idempotency-Key
 * headers refused 400 and nothing kept of it; no answer outside the ones this workload can get.
 */
function checkAnswers({ entries, faults, grace503Ms, db }: CheckInput): Violation[] {
  const stored = new Set(db.storedAnswers.map((record) => record.key));
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
      !faults.some(
        (fault) =>
          mayCause503(fault, entry.instance) &&
          fault.startAt <= entry.doneAt &&
          entry.sentAt <= fault.endAt + grace503Ms,
      )
    ) {
      flag(
        entry,
        '503-without-fault',
        `503 from instance ${entry.instance} while no fault of it or of the database was active nor just healed`,
      );
    } else if (entry.twoKeys) {
      const [a, b] = entry.twoKeys;
      const kept = [a, b, `${a}, ${b}`].find((key) => stored.has(key));
      if (!isTransient(entry) && !refusesTwoKeys(entry)) {
        flag(
          entry,
          'two-keys-accepted',
          `two Idempotency-Key headers answered ${status} ${messageOf(entry) ?? ''}, not 400`,
        );
      } else if (kept !== undefined) {
        flag(
          entry,
          'two-keys-accepted',
          `two Idempotency-Key headers, and a record of "${kept}" kept`,
        );
      }
    } else if (!isFinal(entry) && !isTransient(entry)) {
      flag(entry, 'unexpected-answer', `answered ${status} ${entry.answer ?? ''}`);
    }
  }
  return violations;
}

const refusesTwoKeys = (entry: Entry) =>
  entry.status === 400 && messageOf(entry) === MESSAGES.twoKeys;

interface TicketBody {
  ticketId: string;
  userId: number;
  eventKey: string;
  issuedAt: string;
}

/**
 * The database against itself and against what was acknowledged: one ticket per user and event, the total
 * and each KST day's cap kept, the counters equal to the tickets (a day's count row with no tickets on
 * its day included), every 2xx naming the ticket that exists.
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
  for (const counted of db.dailyCounts) {
    if (counted.issuedCount === 0 || perDay.has(`${counted.eventKey} ${counted.kstDay}`)) continue;
    dbFlag(
      'counter-mismatch',
      `${counted.eventKey}: ${counted.kstDay} counted ${counted.issuedCount}, tickets 0`,
      counted.eventKey,
    );
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

/** How soon every instance honours a switch made on another (isActive re-read: final-refusals.ts). */
const SWITCH_SEEN_MS = 1_000;

/**
 * One user and one event, across keys and without one: each decision (a final answer that is no replay
 * and no 422) against the rules and the ticket the database holds. At most one 201, and none after the
 * user was answered its ticket. A holder is never refused: a refusal sent after a 2xx for the user
 * arrived is a violation, and so is "sold out" (or "today's cap" on the ticket's KST day) however the two
 * overlap — whichever came first, the other broke a rule. A refusal before the ticket was decided (its
 * issuedAt is after the refusal arrived) is followed by a win only where the rules allow it: a switch-on
 * after "switched off", a new KST day after "today's cap", the period opening after an early "outside
 * the period"; never after "sold out" or "unknown event".
 */
function checkUsers(input: CheckInput): Violation[] {
  const { entries, db } = input;
  const runMs = (serviceEpochMs: number) => serviceEpochMs - input.origin - input.fakeOffsetMs;
  const fakeDay = (ms: number) => kstDay(input.origin + ms + input.fakeOffsetMs);
  const events = new Map(db.events.map((event) => [event.eventKey, event]));
  const tickets = new Map(
    db.tickets.map((ticket) => [`${ticket.eventKey}/${ticket.userId}`, ticket]),
  );
  const switchesOn = group(
    entries.filter(
      (entry) =>
        entry.method === 'PATCH' &&
        (JSON.parse(entry.body) as { isActive?: unknown }).isActive === true,
    ),
    (entry) => entry.eventKey,
  );
  const violations: Violation[] = [];
  const flag = (kind: string, message: string, shown: Entry[]) =>
    violations.push({
      kind,
      message,
      ...windowOfUser(shown, entries),
      eventKey: shown[0].eventKey,
    });
  const asked = entries.filter(
    (entry) =>
      entry.method === 'POST' && entry.path.endsWith('/tickets') && entry.userId !== undefined,
  );
  for (const [id, mine] of group(asked, (entry) => `${entry.eventKey}/${entry.userId}`)) {
    const decisions = mine
      .filter((entry) => isFinal(entry) && !entry.replayed && entry.status !== 422)
      .sort(byDoneAt);
    const answered = mine.filter((entry) => entry.status! >= 200 && entry.status! < 300);
    const issued = decisions.filter((entry) => entry.status === 201);
    const late = issued.find((win) => answered.some((e) => e !== win && e.doneAt < win.sentAt));
    if (issued.length > 1 || late) {
      const second = issued.length > 1 ? issued[1] : late!;
      const before =
        issued.length > 1 ? issued[0] : answered.find((e) => e.doneAt < second.sentAt)!;
      flag(
        'second-201',
        `user ${second.userId} of ${second.eventKey}: answered 201 again (#${second.id}) after #${before.id} answered ${before.status}; a repeat is 200`,
        [before, second],
      );
    }
    const ticket = tickets.get(id);
    if (!ticket) continue;
    const acknowledged = answered.reduce<Entry | undefined>(
      (first, entry) => (first && first.doneAt <= entry.doneAt ? first : entry),
      undefined,
    );
    const issuedFrom = runMs(ticket.issuedAtMs);
    const event = events.get(ticket.eventKey);
    for (const refusal of decisions.filter((entry) => entry.status! >= 400)) {
      const message = messageOf(refusal) ?? '';
      const told = `${refusal.status} "${message}"`;
      if (acknowledged && acknowledged.doneAt < refusal.sentAt) {
        flag(
          'holder-refused',
          `user ${refusal.userId} of ${refusal.eventKey} was answered its ticket ${ticket.ticketId} (#${acknowledged.id}), then refused ${told} (#${refusal.id}); a holder gets it back with 200`,
          [acknowledged, refusal],
        );
      } else if (issuedFrom > refusal.doneAt) {
        const allowed =
          (message === MESSAGES.dailyCap && ticket.kstDay > fakeDay(refusal.sentAt)) ||
          (message === MESSAGES.outsidePeriod &&
            event !== undefined &&
            refusal.sentAt < runMs(Date.parse(event.startAt))) ||
          (message === MESSAGES.switchedOff &&
            (switchesOn.get(refusal.eventKey) ?? []).some(
              (on) =>
                on.sentAt < (acknowledged?.doneAt ?? Infinity) &&
                (!isFinal(on) || (!on.replayed && on.doneAt > refusal.sentAt - SWITCH_SEEN_MS)),
            ));
        if (!allowed) {
          flag(
            'refused-then-won',
            `user ${refusal.userId} of ${refusal.eventKey} was refused ${told} (#${refusal.id}), then issued ticket ${ticket.ticketId} at ${ticket.issuedAt}; nothing the rules allow came between`,
            [refusal, ...(acknowledged ? [acknowledged] : [])],
          );
        }
      } else if (
        message === MESSAGES.soldOut ||
        (message === MESSAGES.dailyCap && ticket.kstDay <= fakeDay(refusal.sentAt))
      ) {
        flag(
          'holder-refused',
          `user ${refusal.userId} of ${refusal.eventKey} was refused ${told} (#${refusal.id}) while it was issued ticket ${ticket.ticketId} (${ticket.issuedAt}, ${ticket.kstDay}): one of the two broke a rule`,
          [refusal, ...(acknowledged ? [acknowledged] : [])],
        );
      }
    }
  }
  return violations;
}

function kstDay(epochMs: number): string {
  return new Date(epochMs + 9 * 3_600_000).toISOString().slice(0, 10);
}

/**
 * First come, first served. A non-winner refused cleanly (no 503, 429, time-out or reset for that event
 * before its refusal) with "sold out" — or "today's cap" within one KST day — was refused before any later arrival
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
        .sort(byDoneAt)[0];
      // Refused by a fault before the refusal (a 503, 429, time-out or reset on its way to it), the user
      // may have lost its place in the line; what came after the refusal changes nothing.
      if (told && !mine.some((entry) => isTransient(entry) && entry.sentAt < told.sentAt)) {
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
