/**
 * Fairness (issue 29): first come, first served for a crowd behind one address. The production build with
 * the DEFAULT throttle configuration (no THROTTLE_* setting) and TRUST_PROXY=1, the clients named in
 * X-Forwarded-For. 20,000 users, 1,000 tickets, 1,000 connections; each user is an app that sends once,
 * honours Retry-After, resends with the same Idempotency-Key after a 429, a 503 or a 5 s time-out, and
 * then rejoins the back of the client side's line. Three populations: every user behind ONE address; 30 %
 * behind 20 shared addresses (300 each), the rest on their own; every user on its own address. For each:
 * the share of the first T arrivals (T = tickets; an arrival is a user's first send) that won, the winners
 * that arrived more than T + connections places late, the latest winner's arrival, 429/503 counts and the
 * time to sell out — winners from the database — and one client looping under one userId at ten times a
 * normal app's pace, behind the population's busiest address, refused by the per-user budget. It ends once
 * the event is sold out, every one of the first T arrivals has its final answer and every ticket has
 * reached its holder. Run with a Redis of its own; the first run also without Redis, and with two
 * instances on one address (a balancer spreading every attempt) with Redis and without: one order across
 * instances, and what is left of it when each instance keeps its own.
 */
import { Socket, connect } from 'node:net';
import type { Knex } from 'knex';
import {
  BenchService,
  SERVICE_PORT,
  SOLD_OUT,
  createEvent,
  nodeOptions,
  Options,
  serviceUrl,
  startBenchRedis,
  startBenchService,
} from '../service';
import { median, shuffle } from '../support';

export const FAIRNESS = {
  users: 20_000,
  tickets: 1_000,
  connections: 1_000,
  timeoutMs: 5_000,
  /** The looping client sends every 100 ms: ten times an app that honours Retry-After (≥ 1 s). */
  looperEveryMs: 100,
  /**
   * …for 3 s at least: past the per-user budget (10 in 10 s) even where the crowd is served in half a
   * second (the scenario waits for it).
   */
  looperForMs: 3_000,
  warmUpUsers: 3_000,
  /** A variant still short of its end condition after this long is reported as such. */
  deadlineMs: 240_000,
} as const;

const POPULATIONS = ['one address', '30 % behind 20 addresses', 'own addresses'] as const;
type Population = (typeof POPULATIONS)[number];

interface Variant {
  population: Population;
  instances: number;
  redis: boolean;
}

const LOOPER_USER_ID = 9_999_999;
/**
 * The looping client has an address of its own, so that only the per-user budget stands between it and
 * the service (behind a crowd's address the line would hold it back first, until its place came).
 */
const LOOPER_ADDRESS = '100.64.9.9';

/** Where each user sends from, in line order (user i is the i-th in the client side's line). */
function addressesOf(population: Population, users: number, salt: number): string[] {
  const own = (i: number) => `10.${salt}.${(i >> 8) & 255}.${i & 255}`;
  if (population === 'one address') return Array.from({ length: users }, () => '100.64.0.1');
  if (population === 'own addresses') return Array.from({ length: users }, (_, i) => own(i));
  // 30 % behind 20 carrier addresses (300 each of 20,000), spread over the line.
  const shared = new Set(
    shuffle(
      Array.from({ length: users }, (_, i) => i),
      29,
    ).slice(0, 6_000),
  );
  let next = 0;
  return Array.from({ length: users }, (_, i) =>
    shared.has(i) ? `100.64.1.${(next++ % 20) + 1}` : own(i),
  );
}

interface Reply {
  status: number;
  retryAfter: number | undefined;
  ticketId?: string;
  message?: string;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const PROBE = Buffer.from('GET /health/live HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');

/** One keep-alive connection, one request at a time; a request unanswered within `timeoutMs` is 'timeout'. */
class AppConnection {
  private readonly socket: Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private pending?: (reply: Reply | 'timeout' | Error) => void;
  readonly ready: Promise<void>;

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port, noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    const fail = (error: Error) => this.settle(error);
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(new Error('connection closed')));
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
  }

  send(request: Buffer, timeoutMs: number): Promise<Reply | 'timeout' | Error> {
    return new Promise((resolve) => {
      // Decided after the poll phase: an answer already in the socket is read first (a client starved of CPU
      // would otherwise run its timers before reading what came in time).
      const timer = setTimeout(() => setImmediate(() => this.settle('timeout')), timeoutMs);
      this.pending = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private settle(reply: Reply | 'timeout' | Error): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.(reply);
  }

  private read(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headerEnd = this.buffer.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.buffer.subarray(0, headerEnd).toString('latin1');
    const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    const total = headerEnd + 4 + length;
    if (this.buffer.length < total) return;
    const body = JSON.parse(this.buffer.subarray(headerEnd + 4, total).toString('utf8')) as {
      ticketId?: string;
      message?: string;
    };
    this.buffer = this.buffer.subarray(total);
    const retryAfter = /\r\nretry-after:\s*(\d+)/i.exec(head)?.[1];
    this.settle({
      status: Number(head.slice(9, 12)),
      retryAfter: retryAfter === undefined ? undefined : Number(retryAfter),
      ticketId: body.ticketId,
      message: body.message,
    });
  }
}

function ticketRequest(eventKey: string, userId: number, address: string, key?: string): Buffer {
  const body = JSON.stringify({ userId });
  return Buffer.from(
    `POST /events/${eventKey}/tickets HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nx-forwarded-for: ${address}\r\n` +
      `${key ? `idempotency-key: ${key}\r\n` : ''}\r\n${body}`,
  );
}

interface AppUser {
  userId: number;
  request: Buffer;
  /** 1-based position of its first send among all users' first sends. */
  arrival?: number;
  /** Its final answer: a ticket (201/200), sold out, or another final refusal. */
  final?: Reply;
}

/**
 * The apps: a client side's line of users, `connections` sockets each taking the next user in line. A 429,
 * a 503 or a 409 "in flight" (each with Retry-After) sends the user back to the end of the line after
 * Retry-After; a time-out or a dropped connection at once (a new connection for the socket). Runs until
 * `done()` says so, looked at every 250 ms, or the deadline.
 */
async function runApps(
  ports: number[],
  users: AppUser[],
  done: () => Promise<boolean>,
  looper?: { eventKey: string; port: number },
) {
  const line: number[] = users.map((_, i) => i);
  let head = 0;
  const waiting: Array<() => void> = [];
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  let arrivals = 0;
  const statusCounts: Record<string, number> = {};
  const count = (status: string) => (statusCounts[status] = (statusCounts[status] ?? 0) + 1);
  const rejoin = (index: number, afterMs: number) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      line.push(index);
      waiting.shift()?.();
    }, afterMs);
    timers.add(timer);
  };
  const nextInLine = async (): Promise<number | undefined> => {
    while (!stopped && head >= line.length) await new Promise<void>((r) => waiting.push(r));
    return stopped ? undefined : line[head++];
  };
  // The apps are open before the opening second: every connection established and accepted (one probe
  // each), so no first request waits in a listen backlog behind requests on older connections.
  const sockets = await Promise.all(
    Array.from({ length: FAIRNESS.connections }, async (_, n) => {
      const socket = new AppConnection(ports[n % ports.length]);
      await socket.ready;
      await socket.send(PROBE, FAIRNESS.timeoutMs);
      return socket;
    }),
  );
  const started = Date.now();

  const connection = async (n: number) => {
    const port = ports[n % ports.length];
    let socket = sockets[n];
    for (let index = await nextInLine(); index !== undefined; index = await nextInLine()) {
      const user = users[index];
      user.arrival ??= ++arrivals;
      const reply = await socket.send(user.request, FAIRNESS.timeoutMs);
      if (reply === 'timeout' || reply instanceof Error) {
        count(reply === 'timeout' ? 'timeout' : 'no answer');
        socket.close();
        socket = new AppConnection(port);
        await socket.ready;
        rejoin(index, 0);
        continue;
      }
      count(String(reply.status));
      if (reply.retryAfter !== undefined && [429, 503, 409].includes(reply.status)) {
        rejoin(index, reply.retryAfter * 1_000);
      } else {
        user.final = reply;
      }
    }
    socket.close();
  };

  // The looping client fires every 100 ms whether or not its earlier requests were answered.
  const looperStatuses: Record<string, number> = {};
  const loop = async () => {
    if (!looper) return;
    const sent: Array<Promise<void>> = [];
    while (!stopped) {
      sent.push(
        fetch(`${serviceUrl(looper.port)}/events/${looper.eventKey}/tickets`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': LOOPER_ADDRESS },
          body: JSON.stringify({ userId: LOOPER_USER_ID }),
          signal: AbortSignal.timeout(FAIRNESS.timeoutMs),
        }).then(
          async (response) => {
            await response.arrayBuffer();
            looperStatuses[response.status] = (looperStatuses[response.status] ?? 0) + 1;
          },
          () => void (looperStatuses['no answer'] = (looperStatuses['no answer'] ?? 0) + 1),
        ),
      );
      await new Promise((r) => setTimeout(r, FAIRNESS.looperEveryMs));
    }
    await Promise.all(sent);
  };

  const watch = async () => {
    const looped = () => !looper || Date.now() - started >= FAIRNESS.looperForMs;
    try {
      while (!(looped() && (await done())) && Date.now() - started < FAIRNESS.deadlineMs) {
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      waiting.splice(0).forEach((wake) => wake());
    }
  };

  await Promise.all([
    watch(),
    ...Array.from({ length: FAIRNESS.connections }, (_, n) => connection(n)),
    loop(),
  ]);
  return {
    startedAt: started,
    durationMs: Date.now() - started,
    endedByDeadline: Date.now() - started >= FAIRNESS.deadlineMs,
    arrivals,
    statusCounts,
    looperStatuses,
  };
}

async function scrape(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`${serviceUrl(port)}/metrics`)).text();
  const value = (pattern: RegExp) =>
    [...text.matchAll(pattern)].reduce((sum, match) => sum + Number(match[1]), 0);
  return {
    throttledIp: value(/^golden_ticket_throttled_requests_total\{scope="ip"\} (\S+)$/gm),
    throttledUser: value(/^golden_ticket_throttled_requests_total\{scope="user"\} (\S+)$/gm),
    deferred: value(/^golden_ticket_deferred_requests_total\{scope="ip"\} (\S+)$/gm),
    deferralSeconds: value(/^golden_ticket_deferral_seconds_sum (\S+)$/gm),
  };
}

async function scrapeAll(ports: number[]) {
  const each = await Promise.all(ports.map(scrape));
  const sum = (key: string) => each.reduce((total, s) => total + s[key], 0);
  return {
    throttledIp: sum('throttledIp'),
    throttledUser: sum('throttledUser'),
    deferred: sum('deferred'),
    deferralSeconds: sum('deferralSeconds'),
  };
}

interface Holder {
  userId: number;
  id: string;
  issuedAt: Date;
}

async function holdersOf(knex: Knex, eventKey: string): Promise<Holder[]> {
  const rows: Holder[] = await knex('tickets')
    .join('events', 'events.id', 'tickets.eventId')
    .where('events.eventKey', eventKey)
    .select('tickets.userId', 'tickets.id', 'tickets.issuedAt');
  return rows;
}

function appUsers(eventKey: string, addresses: string[], firstUserId: number): AppUser[] {
  return addresses.map((address, i) => {
    const userId = firstUserId + i;
    return { userId, request: ticketRequest(eventKey, userId, address, `${eventKey}-${userId}`) };
  });
}

/** The apps against one event until it is sold out, the first T arrivals answered and every ticket delivered. */
async function storm(
  ports: number[],
  knex: Knex,
  eventKey: string,
  users: AppUser[],
  tickets: number,
  looper?: { eventKey: string; port: number },
) {
  let holders: Holder[] | undefined;
  const byUserId = new Map(users.map((user) => [user.userId, user]));
  const done = async () => {
    const soldOut = users.some((user) => user.final?.message === SOLD_OUT);
    if (!soldOut) return false;
    const early = users.filter((user) => user.arrival !== undefined && user.arrival <= tickets);
    if (early.length < tickets || early.some((user) => !user.final)) return false;
    holders ??= await holdersOf(knex, eventKey);
    // Every ticket of the crowd delivered (the looping client's, if it got one, is its own business).
    return holders.every(
      (ticket) =>
        ticket.userId === LOOPER_USER_ID ||
        byUserId.get(ticket.userId)?.final?.ticketId === ticket.id,
    );
  };
  return runApps(ports, users, done, looper);
}

async function variantRun(serverUrl: string, options: Options, variant: Variant, salt: number) {
  const { users: userCount, tickets, connections } = FAIRNESS;
  const own = variant.redis ? await startBenchRedis() : undefined;
  if (own && 'skipped' in own) throw new Error(`fairness with Redis: ${own.skipped}`);
  const redis = own;
  const firstPort = SERVICE_PORT + 20;
  const ports = Array.from({ length: variant.instances }, (_, i) => firstPort + i);
  const env = {
    TRUST_PROXY: '1',
    // The default configuration: none of the bench's throttle overrides.
    THROTTLE_IP_LIMIT: undefined,
    THROTTLE_USER_LIMIT: undefined,
    ...(redis ? { REDIS_URL: redis.url, THROTTLE_KEY_PREFIX: `fairness-${Date.now()}` } : {}),
  };
  let service: BenchService | undefined;
  try {
    service = await startBenchService(serverUrl, {
      node: nodeOptions(options),
      instances: variant.instances,
      firstPort,
      env,
    });
    const knex = service.knex;
    const url = serviceUrl(ports[0]);
    // Warm-up (JIT, pool, the line's code) on an event, users and addresses of its own.
    const warmUpKey = await createEvent(url, 'fairness-warm-up', tickets);
    const warmUsers = appUsers(
      warmUpKey,
      addressesOf('own addresses', FAIRNESS.warmUpUsers, 200 + salt),
      5_000_000,
    );
    await storm(ports, knex, warmUpKey, warmUsers, Math.min(tickets, FAIRNESS.warmUpUsers));

    const eventKey = await createEvent(url, 'fairness', tickets);
    const addresses = addressesOf(variant.population, userCount, salt);
    const users = appUsers(eventKey, addresses, 1);
    const before = await scrapeAll(ports);
    const run = await storm(ports, knex, eventKey, users, tickets, { eventKey, port: ports[0] });
    const after = await scrapeAll(ports);
    const warnings = service.warnings();
    await service.stop();
    // Each time an instance found Redis gone (a refused or timed-out command): its line was its own meanwhile.
    const redisLost = warnings
      .filter((line) => line.includes('Redis unreachable'))
      .map((line) =>
        String((JSON.parse(line.slice(line.indexOf('{'))) as { reason?: unknown }).reason),
      );

    const holders = await holdersOf(knex, eventKey);
    const byUserId = new Map(users.map((user) => [user.userId, user]));
    // The looping client may hold one ticket too: not one of the crowd's.
    const arrivalsOfWinners = holders
      .filter((ticket) => ticket.userId !== LOOPER_USER_ID)
      .map((ticket) => byUserId.get(ticket.userId)?.arrival ?? Infinity)
      .sort((a, b) => a - b);
    const earlyLosers = users
      .filter((user) => user.arrival !== undefined && user.arrival <= tickets)
      .filter((user) => user.final?.ticketId === undefined)
      .map((user) => user.arrival!)
      .sort((a, b) => a - b);
    const lastTicketAt = Math.max(...holders.map((ticket) => new Date(ticket.issuedAt).getTime()));
    const deferred = after.deferred - before.deferred;
    return {
      ...variant,
      firstTWon: round3(arrivalsOfWinners.filter((arrival) => arrival <= tickets).length / tickets),
      winnersLaterThanTPlusConnections: arrivalsOfWinners.filter(
        (arrival) => arrival > tickets + connections,
      ).length,
      latestWinnerArrival: arrivalsOfWinners[arrivalsOfWinners.length - 1],
      firstEarlyLosers: earlyLosers.slice(0, 5),
      soldOutMs: lastTicketAt - run.startedAt,
      attempts: Object.values(run.statusCounts).reduce((sum, n) => sum + n, 0),
      statusCounts: run.statusCounts,
      durationMs: run.durationMs,
      endedByDeadline: run.endedByDeadline,
      refusedByTheLine: after.throttledIp - before.throttledIp,
      redisLost,
      deferred,
      meanDeferralMs: deferred
        ? Math.round(((after.deferralSeconds - before.deferralSeconds) / deferred) * 1_000)
        : 0,
      looper: {
        statuses: run.looperStatuses,
        refusedByUserBudget: after.throttledUser - before.throttledUser,
      },
      invariants: await invariants(knex, eventKey, tickets, holders, users),
    };
  } finally {
    await service?.close();
    await redis?.stop();
  }
}

/** Nothing lost, nothing doubled or oversold: the database against what the apps were told. */
async function invariants(
  knex: Knex,
  eventKey: string,
  tickets: number,
  holders: Holder[],
  users: AppUser[],
) {
  const problems: string[] = [];
  const event = await knex<{ eventKey: string; issuedCount: number }>('events')
    .where({ eventKey })
    .first();
  const unfinished = await knex('idempotencyKeys').whereNull('responseStatus').count({ n: '*' });
  const ticketOf = new Map(holders.map((ticket) => [ticket.userId, ticket.id]));
  if (holders.length !== tickets) problems.push(`${holders.length} tickets, expected ${tickets}`);
  if (ticketOf.size !== holders.length) problems.push('a user holds more than one ticket');
  if (event?.issuedCount !== holders.length)
    problems.push(`issued_count ${event?.issuedCount} ≠ ${holders.length} tickets`);
  for (const user of users) {
    const told = user.final?.ticketId;
    if (ticketOf.has(user.userId) && told !== ticketOf.get(user.userId))
      problems.push(`the ticket of user ${user.userId} did not reach it`);
    if (!ticketOf.has(user.userId) && told !== undefined)
      problems.push(`user ${user.userId} was told of a ticket it does not hold`);
  }
  if (Number(unfinished[0].n) !== 0) problems.push(`${unfinished[0].n} keys left in flight`);
  return { ok: problems.length === 0, problems: problems.slice(0, 10) };
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

export type FairnessRun = Awaited<ReturnType<typeof variantRun>>[];

/** One run: the three populations with Redis; the first run also without it, and over two instances. */
export async function fairnessRun(serverUrl: string, options: Options, run: number) {
  const variants: Variant[] = POPULATIONS.map((population) => ({
    population,
    instances: 1,
    redis: true,
  }));
  if (run === 1) {
    variants.push(
      ...POPULATIONS.map((population) => ({ population, instances: 1, redis: false })),
      { population: 'one address', instances: 2, redis: true },
      { population: 'one address', instances: 2, redis: false },
    );
  }
  const results: FairnessRun = [];
  for (const [i, variant] of variants.entries()) {
    console.log(`  fairness: ${describe(variant)}`);
    results.push(await variantRun(serverUrl, options, variant, i));
  }
  return results;
}

const describe = (v: Variant) =>
  `${v.population}, ${v.instances} instance${v.instances > 1 ? 's' : ''}, ${v.redis ? 'Redis' : 'no Redis'}`;

/** The table's rows and latest.json's `fairness`: each variant's runs, the share of the first T that won as a median. */
export function reportFairness(
  runs: FairnessRun[],
  rows: Array<[string, string]>,
  output: Record<string, unknown>,
): boolean {
  if (runs.length === 0) return true;
  const { users, tickets, connections } = FAIRNESS;
  const variants = runs[0].map(({ population, instances, redis }) => ({
    population,
    instances,
    redis,
  }));
  const byVariant = variants.map((variant) => ({
    variant,
    samples: runs.flatMap((run) =>
      run.filter(
        (r) =>
          r.population === variant.population &&
          r.instances === variant.instances &&
          r.redis === variant.redis,
      ),
    ),
  }));
  const targeted = byVariant.filter(({ variant }) => variant.instances === 1 && variant.redis);
  const ok = byVariant.every(({ samples }) => samples.every((s) => s.invariants.ok));
  output.fairness = {
    users,
    tickets,
    connections,
    configuration: 'defaults (no THROTTLE_*), TRUST_PROXY=1',
    variants: byVariant.map(({ variant, samples }) => ({
      ...variant,
      firstTWonMedian: median(samples.map((s) => s.firstTWon)),
      perRun: samples,
    })),
    targets: {
      firstTWonAtLeast095: targeted.every(({ samples }) =>
        samples.every((s) => s.firstTWon >= 0.95),
      ),
      noWinnerBeyondTPlusConnections: targeted.every(({ samples }) =>
        samples.every((s) => s.winnersLaterThanTPlusConnections === 0),
      ),
      looperRefusedByUserBudget: byVariant.every(({ samples }) =>
        samples.every((s) => s.looper.refusedByUserBudget > 0),
      ),
      no5xx: byVariant.every(({ samples }) =>
        samples.every((s) =>
          Object.keys(s.statusCounts).every((status) => !status.startsWith('5')),
        ),
      ),
      invariants: ok,
    },
  };
  const each = (samples: FairnessRun, pick: (s: FairnessRun[number]) => unknown) =>
    samples.map(pick).join(', ');
  rows.push([
    'fairness',
    `${users} apps, ${tickets} tickets, ${connections} connections, default throttles; per run`,
  ]);
  for (const { variant, samples } of byVariant) {
    rows.push(
      [
        `  ${describe(variant)}`,
        `first T won ${each(samples, (s) => s.firstTWon)}; winners > T+connections ${each(samples, (s) => s.winnersLaterThanTPlusConnections)}; latest winner ${each(samples, (s) => s.latestWinnerArrival)}`,
      ],
      [
        '    answers · sold out in',
        `${samples.map((s) => `429 ${s.statusCounts['429'] ?? 0}, 503 ${s.statusCounts['503'] ?? 0}, time-outs ${s.statusCounts.timeout ?? 0} of ${s.attempts}`).join('; ')} · ${each(samples, (s) => `${s.soldOutMs} ms`)}`,
      ],
      [
        '    deferred (mean wait) · first early losers',
        `${each(samples, (s) => `${s.deferred} (${s.meanDeferralMs} ms)`)} · ${samples.map((s) => `[${s.firstEarlyLosers.join(' ')}]`).join(' ')}${samples.some((s) => s.redisLost.length > 0) ? ` · Redis lost ${each(samples, (s) => s.redisLost.length)}×` : ''}`,
      ],
      [
        '    looper (10/s, one userId) · invariants',
        `${samples.map((s) => `${JSON.stringify(s.looper.statuses)} user-budget 429 ${s.looper.refusedByUserBudget}`).join('; ')} · ${samples.every((s) => s.invariants.ok) ? 'ok' : `BROKEN: ${samples.flatMap((s) => s.invariants.problems).join('; ')}`}${samples.some((s) => s.endedByDeadline) ? ' · DEADLINE reached' : ''}`,
      ],
    );
  }
  return ok;
}
