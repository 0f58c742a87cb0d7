import { Clients, RequestSpec } from './clients';
import { Entry, History, isFinal } from './history';
import { Prng } from './prng';
import { sleep } from './system';

/** An event of the run; times in milliseconds of the run's real clock. */
export interface EventPlan {
  eventKey: string;
  totalQuantity: number;
  dailyLimit: number | null;
  startAt: number;
  endAt: number;
  /** Share of the users asking for it. */
  weight: number;
  /** false: never created (its requests are 404s). */
  exists: boolean;
}

export interface Session {
  index: number;
  userId: number;
  eventKey: string;
  key?: string;
  arriveAt: number;
}

/** Users whose app changed the body under a key ask for this one instead of themselves. */
export const GHOST_USER_OFFSET = 1_000_000;

const USERS_PER_SECOND = 7;

/**
 * The events: one that sells out early, one with a small daily cap (met every KST day), a drop that opens
 * mid-run to a burst and sells out, one that ends mid-run, one never short of tickets, one that does not exist.
 */
export function planEvents(seed: number, from: number, seconds: number): EventPlan[] {
  const ms = seconds * 1000;
  const tag = seed.toString(36);
  const always = { startAt: from - 3_600_000, endAt: from + ms + 86_400_000 };
  return [
    {
      eventKey: `small-${tag}`,
      totalQuantity: 25,
      dailyLimit: null,
      ...always,
      weight: 12,
      exists: true,
    },
    {
      eventKey: `capped-${tag}`,
      totalQuantity: 100_000,
      dailyLimit: 30,
      ...always,
      weight: 24,
      exists: true,
    },
    {
      eventKey: `drop-${tag}`,
      totalQuantity: 120,
      dailyLimit: null,
      startAt: from + dropOpensAt(seconds),
      endAt: always.endAt,
      weight: 12,
      exists: true,
    },
    {
      eventKey: `ending-${tag}`,
      totalQuantity: 60,
      dailyLimit: 40,
      startAt: always.startAt,
      endAt: from + Math.round(ms * 0.7),
      weight: 16,
      exists: true,
    },
    {
      eventKey: `big-${tag}`,
      totalQuantity: 100_000,
      dailyLimit: null,
      ...always,
      weight: 31,
      exists: true,
    },
    {
      eventKey: `ghost-${tag}`,
      totalQuantity: 1,
      dailyLimit: null,
      ...always,
      weight: 5,
      exists: false,
    },
  ];
}

/** When the drop opens, in milliseconds after traffic starts. */
export function dropOpensAt(seconds: number): number {
  return Math.round(seconds * 1000 * 0.3);
}

/** Users arriving evenly over the run, plus a burst around the drop's opening (some too early). */
export function planSessions(
  rng: Prng,
  seed: number,
  events: EventPlan[],
  from: number,
  seconds: number,
): Session[] {
  const sessions: Session[] = [];
  const ms = seconds * 1000;
  const users = Math.round(USERS_PER_SECOND * seconds);
  const choices = events.map((event) => [event.eventKey, event.weight] as const);
  const add = (userId: number, eventKey: string, arriveAt: number) => {
    const index = sessions.length;
    const keyed = rng.chance(0.85);
    sessions.push({
      index,
      userId,
      eventKey,
      arriveAt,
      ...(keyed ? { key: `chaos-${seed}-${index}-${rng.int(0, 2 ** 30).toString(36)}` } : {}),
    });
  };
  for (let userId = 1; userId <= users; userId++) {
    const first = rng.weighted(choices);
    add(userId, first, from + rng.between(0, ms * 0.95));
    if (rng.chance(0.2)) {
      const second = rng.weighted(choices);
      if (second !== first) add(userId, second, from + rng.between(0, ms * 0.95));
    }
  }
  const drop = events.find((event) => event.eventKey.startsWith('drop-'))!;
  for (let i = 0; i < 150; i++) {
    add(users + 1 + i, drop.eventKey, drop.startAt + rng.between(-1_500, 2_500));
  }
  return sessions;
}

export function ticketRequest(session: Session, userId = session.userId): RequestSpec {
  return {
    actor: `user:${session.userId}`,
    method: 'POST',
    path: `/events/${session.eventKey}/tickets`,
    body: JSON.stringify({ userId }),
    eventKey: session.eventKey,
    userId,
    ...(session.key ? { key: session.key } : {}),
  };
}

/**
 * A mobile app: its request at arrival, resent until a final answer; a third of keyed apps lose the answer
 * and resend the key up to 10 s later (once or twice); a few change the body under the key, mid-retries or
 * after. A few send their first try with two Idempotency-Key headers (refused 400, nothing kept), and some
 * users ask again later, as a new request (a new key, or none): a holder gets the same ticket (200),
 * anyone else a fresh decision by the rules.
 */
export async function runSession(
  clients: Clients,
  rng: Prng,
  session: Session,
  deadline: number,
): Promise<void> {
  await sleep(session.arriveAt - clients.history.now());
  const spec = ticketRequest(session);
  const changed = () => ticketRequest(session, GHOST_USER_OFFSET + session.userId);
  const keyed = session.key !== undefined;
  const options = { maxAttempts: 30, deadline };
  const { key: _, ...unkeyed } = spec;
  if (rng.chance(0.05)) {
    const twoKeys: [string, string] = [`two-${session.index}-a`, `two-${session.index}-b`];
    await clients.untilFinal(rng, { ...unkeyed, twoKeys }, 'two-keys', options);
  }
  await clients.untilFinal(rng, spec, 'first', {
    ...options,
    ...(keyed && rng.chance(0.03) ? { changeBody: changed } : {}),
  });
  const resends = rng.chance(keyed ? 0.35 : 0.2) ? rng.int(1, 2) : 0;
  for (let i = 0; i < resends; i++) {
    await sleep(rng.between(300, 10_000));
    if (clients.history.now() >= deadline) return;
    await clients.untilFinal(rng, spec, 'lost-answer', options);
  }
  if (keyed && rng.chance(0.04)) await clients.untilFinal(rng, changed(), 'changed-body', options);
  if (rng.chance(0.15)) {
    await sleep(rng.between(500, 15_000));
    if (clients.history.now() >= deadline) return;
    const again = rng.chance(0.5) ? { ...unkeyed, key: `again-${session.index}` } : unkeyed;
    await clients.untilFinal(rng, again, 'again', options);
  }
}

/** The operator's keyed PATCH, resent until final; sometimes resent once more (answer lost). */
export async function patchEvent(
  clients: Clients,
  rng: Prng,
  eventKey: string,
  isActive: boolean,
  key: string,
  deadline: number,
): Promise<Entry> {
  const spec: RequestSpec = {
    actor: 'operator',
    method: 'PATCH',
    path: `/events/${eventKey}`,
    body: JSON.stringify({ isActive }),
    key,
    eventKey,
  };
  const answer = await clients.untilFinal(rng, spec, 'first', { maxAttempts: 30, deadline });
  if (rng.chance(0.3)) {
    await sleep(rng.between(200, 2_000));
    await clients.untilFinal(rng, spec, 'lost-answer', { maxAttempts: 30, deadline });
  }
  return answer;
}

/** Now and then an event switched off for a few seconds, then on again. */
export async function runOperator(
  clients: Clients,
  rng: Prng,
  seed: number,
  eventKeys: string[],
  until: number,
  deadline: number,
): Promise<void> {
  for (let n = 0; clients.history.now() < until; n++) {
    await sleep(rng.between(3_000, 8_000));
    if (clients.history.now() >= until) return;
    const eventKey = rng.pick(eventKeys);
    await patchEvent(clients, rng, eventKey, false, `op-${seed}-${n}-off`, deadline);
    await sleep(rng.between(1_000, 5_000));
    await patchEvent(clients, rng, eventKey, true, `op-${seed}-${n}-on`, deadline);
  }
}

export async function createEvents(
  clients: Clients,
  rng: Prng,
  seed: number,
  events: EventPlan[],
  wire: (at: number) => string,
): Promise<void> {
  for (const event of events.filter((candidate) => candidate.exists)) {
    const body = JSON.stringify({
      eventKey: event.eventKey,
      name: `chaos ${event.eventKey}`,
      totalQuantity: event.totalQuantity,
      dailyLimit: event.dailyLimit,
      startAt: wire(event.startAt),
      endAt: wire(event.endAt),
    });
    const spec: RequestSpec = {
      actor: 'operator',
      method: 'POST',
      path: '/events',
      body,
      key: `create-${seed}-${event.eventKey}`,
      eventKey: event.eventKey,
    };
    const answer = await clients.untilFinal(rng, spec, 'first', {
      maxAttempts: 10,
      deadline: clients.history.now() + 30_000,
    });
    if (answer.status !== 201) {
      const got = answer.error ?? `${answer.status} ${answer.answer}`;
      throw new Error(`event ${event.eventKey} not created: ${got}`);
    }
  }
}

export interface ProbeResult {
  round: number;
  key: string;
  path: string;
  body: string;
  /** The last entry of the probe's chain; not final means the key had no answer after recovery. */
  last: number;
  final: boolean;
}

/**
 * After every fault is healed: each (key, request) ever sent is sent once more, to a random instance,
 * until a final answer — so every key is judged by an answer given after recovery.
 */
export async function probeKeys(
  clients: Clients,
  history: History,
  rng: Prng,
  round: number,
): Promise<ProbeResult[]> {
  const seen = new Map<string, RequestSpec>();
  for (const entry of history.entries) {
    if (!entry.key || entry.actor === 'probe') continue;
    const id = `${entry.key}\n${entry.path}\n${entry.body}`;
    if (!seen.has(id)) {
      seen.set(id, {
        actor: 'probe',
        method: entry.method,
        path: entry.path,
        body: entry.body,
        key: entry.key,
        eventKey: entry.eventKey,
        ...(entry.userId !== undefined ? { userId: entry.userId } : {}),
      });
    }
  }
  const specs = [...seen.values()];
  const results: ProbeResult[] = [];
  const deadline = history.now() + 60_000;
  // A few at a time: the probe must not itself become a surge.
  for (let i = 0; i < specs.length; i += 32) {
    await Promise.all(
      specs.slice(i, i + 32).map(async (spec) => {
        const last = await clients.untilFinal(rng, spec, 'probe', { maxAttempts: 8, deadline });
        results.push({
          round,
          key: spec.key!,
          path: spec.path,
          body: spec.body,
          last: last.id,
          final: isFinal(last),
        });
      }),
    );
  }
  return results;
}
