/**
 * `npm run bench [-- --runs 3] [-- --only surge|scale-out|reads]`: the opening-second surge against the
 * production build, side by side with this machine's HTTP and database ceilings measured in the same run,
 * then the invariants checked in the database; the KST-midnight cap scenario; and the scale-out scenario
 * (the same kind of storm against 1, 2 and 3 service processes on one database); and the reads (the drop
 * with event-page reads mixed in, against the same drop without, and each read route's storm against
 * /health/live in the same run). With several runs every
 * figure is the median of the runs. Prints one table and writes bench/results/latest.json. A benchmark,
 * not a test: it asserts no timing, but it fails loudly when an invariant is broken.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import knexFactory, { Knex } from 'knex';
import { Client } from 'pg';
import scenario from '../loadtest/scenario.json';
import { buildKnexConfig } from '../src/database/knex-config';
import { startEmbeddedPostgres } from '../src/database/embedded-postgres';
import type { LoadResults, PlannedRequest } from './load-client';
import { runMidnightScenario } from './midnight';
import {
  Process,
  latencySummary,
  median,
  peakRssMb,
  postEvent,
  runLoad,
  scratch,
  shuffle,
  startProcess,
  waitFor,
} from './support';

const SERVICE_PORT = 3390;
const CEILING_PORT = 3391;
const POOL_MAX = 20;
const SOLD_OUT = '티켓이 모두 소진되었습니다.';
const MAIN_JS = join(__dirname, '..', 'src', 'main.js');

interface Planned extends PlannedRequest {
  userId: number;
  kind: 'original' | 'retransmit-key' | 'retransmit-natural' | 'read';
}

interface Options {
  runs: number;
  surge: boolean;
  scaleOut: boolean;
  reads: boolean;
  /** Where the surge's service writes a V8 CPU profile (`--cpu-prof DIR`), to find where time goes. */
  cpuProfileDir?: string;
}

function parseOptions(argv: string[]): Options {
  const value = (name: string) => {
    const index = argv.indexOf(`--${name}`);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const runs = Number(value('runs') ?? 1);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a whole number ≥ 1');
  const only = value('only');
  if (only !== undefined && only !== 'surge' && only !== 'scale-out' && only !== 'reads') {
    throw new Error('--only takes surge, scale-out or reads');
  }
  return {
    runs,
    surge: only === undefined || only === 'surge',
    scaleOut: only === undefined || only === 'scale-out',
    reads: only === undefined || only === 'reads',
    cpuProfileDir: value('cpu-prof'),
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const { serverUrl, stopServer } = await databaseServer();
  try {
    const runs: SurgeRun[] = [];
    const scaleOutRuns: ScaleOutRun[] = [];
    const readsRuns: ReadsRun[] = [];
    for (let run = 1; run <= options.runs; run++) {
      if (options.surge) {
        console.log(`\nrun ${run}/${options.runs}: surge, HTTP ceiling, database ceiling`);
        runs.push(await surgeRun(await freshDatabase(serverUrl), options.cpuProfileDir));
      }
      if (options.scaleOut) {
        console.log(`\nrun ${run}/${options.runs}: scale-out`);
        scaleOutRuns.push(await scaleOutRun(serverUrl));
      }
      if (options.reads) {
        console.log(
          `\nrun ${run}/${options.runs}: reads (the drop as users make it, the read storm)`,
        );
        readsRuns.push(await readsRun(await freshDatabase(serverUrl), run, options.cpuProfileDir));
      }
    }
    const midnight = options.surge
      ? await runMidnightScenario(await freshDatabase(serverUrl), scenario.midnight)
      : undefined;
    report(options, runs, scaleOutRuns, readsRuns, midnight);
  } finally {
    await stopServer();
  }
}

async function databaseServer(): Promise<{ serverUrl: string; stopServer: () => Promise<void> }> {
  if (process.env.DATABASE_URL)
    return { serverUrl: process.env.DATABASE_URL, stopServer: async () => {} };
  const embedded = await startEmbeddedPostgres({
    dir: join(scratch, 'pg'),
    port: 54391,
    persistent: false,
    database: 'golden_ticket_bench',
  });
  return { serverUrl: embedded.url, stopServer: () => embedded.stop() };
}

let databases = 0;
async function freshDatabase(serverUrl: string): Promise<string> {
  const name = `golden_ticket_bench_${Date.now()}_${databases++}`;
  const url = new URL(serverUrl);
  url.pathname = '/postgres';
  const admin = knexFactory(buildKnexConfig({ url: url.toString(), poolMin: 0 }));
  await admin.raw(`CREATE DATABASE "${name}"`);
  await admin.destroy();
  url.pathname = `/${name}`;
  return url.toString();
}

/** Redis on 127.0.0.1:6379 when it answers: the instances then share throttle budgets, as deployed. */
function localRedis(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: '127.0.0.1', port: 6379 });
    const done = (url: string | undefined) => {
      socket.destroy();
      resolve(url);
    };
    socket.once('connect', () => done('redis://127.0.0.1:6379'));
    socket.once('error', () => done(undefined));
    socket.setTimeout(500, () => done(undefined));
  });
}

/** The production build with throttles out of the way (the benchmark measures issuance, not shedding). */
function startService(port: number, env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Process {
  return startProcess(
    MAIN_JS,
    [],
    {
      PORT: String(port),
      HOST: '127.0.0.1',
      NODE_ENV: 'production',
      // The benchmark is the operator: it creates its events without a token.
      ADMIN_AUTH: 'disabled',
      LOG_LEVEL: 'info',
      DB_POOL_MAX: String(POOL_MAX),
      THROTTLE_IP_LIMIT: '100000000',
      THROTTLE_USER_LIMIT: '1000',
      SHUTDOWN_READINESS_DELAY_MS: '0',
      ...env,
    },
    nodeArgs,
  );
}

/** SIGTERM, then the issuance totals the process logged at shutdown. */
async function stopService(service: Process): Promise<IssuanceTotals> {
  service.child.kill('SIGTERM');
  await service.exited;
  const totals = service.lines
    .map((line) => JSON.parse(line) as { issuanceTotals?: IssuanceTotals })
    .find((entry) => entry.issuanceTotals)?.issuanceTotals;
  if (!totals) throw new Error('the service logged no issuance totals');
  return totals;
}

interface IssuanceTotals {
  batches: number;
  requests: number;
  issued: number;
  retries: number;
  firstBatches?: Array<{ size: number; ms: number }>;
}

/**
 * Originals in random order; each of `ratio` of the users is sent again somewhere after its original (often
 * while it runs): half with the same Idempotency-Key, half without. `targetOf` picks an instance for an
 * original and for its copy (another one, when there are several).
 */
function stormPlan(
  eventKey: string,
  users: number,
  ratio: number,
  targetOf: (userId: number, copy: boolean) => number = () => 0,
): Planned[] {
  const path = `/events/${eventKey}/tickets`;
  const order = shuffle(Array.from({ length: users }, (_, i) => i + 1));
  const request = (userId: number, kind: Planned['kind'], withKey: boolean): Planned => ({
    method: 'POST',
    path,
    body: { userId },
    headers: withKey ? { 'idempotency-key': `${eventKey}-${userId}` } : {},
    userId,
    kind,
    target: targetOf(userId, kind !== 'original'),
  });
  const positionOf = new Map(order.map((userId, position) => [userId, position]));
  // Each retransmission goes right after the original at most 1,500 places later.
  const after = new Map<number, Planned[]>();
  shuffle(order, 7)
    .slice(0, Math.round(users * ratio))
    .forEach((userId, index) => {
      const withKey = index % 2 === 0;
      const at = Math.min(order.length - 1, positionOf.get(userId)! + ((userId * 7919) % 1500));
      const copy = request(userId, withKey ? 'retransmit-key' : 'retransmit-natural', withKey);
      after.set(at, [...(after.get(at) ?? []), copy]);
    });
  return order.flatMap((userId, position) => [
    request(userId, 'original', true),
    ...(after.get(position) ?? []),
  ]);
}

async function createEvent(
  baseUrl: string,
  prefix: string,
  totalQuantity: number,
): Promise<string> {
  const now = Date.now();
  const eventKey = `${prefix}-${now}`;
  await postEvent(baseUrl, {
    eventKey,
    name: '벤치마크 이벤트',
    totalQuantity,
    dailyLimit: scenario.dailyLimit,
    startAt: new Date(now - 60_000).toISOString(),
    endAt: new Date(now + 3_600_000).toISOString(),
  });
  return eventKey;
}

/** Every invariant of a storm, checked in the database against what the clients were told. */
async function checkInvariants(
  knex: Knex,
  eventKey: string,
  tickets: number,
  plan: Planned[],
  results: LoadResults,
) {
  const rows: Array<{ userId: number; id: string }> = await knex('tickets')
    .join('events', 'events.id', 'tickets.eventId')
    .where('events.eventKey', eventKey)
    .select('tickets.userId', 'tickets.id');
  const event = await knex<{ eventKey: string; issuedCount: number }>('events')
    .where({ eventKey })
    .first();
  const unfinishedKeys = await knex('idempotencyKeys')
    .whereNull('responseStatus')
    .count({ n: '*' });
  const ticketOf = new Map(rows.map((ticket) => [ticket.userId, ticket.id]));
  const answered = new Map<number, Set<string>>();
  plan.forEach((request, index) => {
    const ticketId = results.ticketId[index];
    if (ticketId)
      answered.set(request.userId, (answered.get(request.userId) ?? new Set()).add(ticketId));
  });
  const problems: string[] = [];
  if (rows.length !== tickets) problems.push(`${rows.length} tickets, expected ${tickets}`);
  if (ticketOf.size !== rows.length) problems.push('a user holds more than one ticket');
  if (event?.issuedCount !== rows.length)
    problems.push(`issued_count ${event?.issuedCount} ≠ ${rows.length} tickets`);
  for (const [userId, ticketId] of ticketOf) {
    const ids = answered.get(userId);
    if (!ids || !ids.has(ticketId))
      problems.push(`ticket of user ${userId} never reached its user`);
  }
  for (const [userId, ids] of answered) {
    if (ids.size !== 1 || ids.values().next().value !== ticketOf.get(userId)) {
      problems.push(`user ${userId} was answered with ${ids.size} different or unknown tickets`);
    }
  }
  if (Number(unfinishedKeys[0].n) !== 0)
    problems.push(`${unfinishedKeys[0].n} idempotency keys left in flight`);
  return { ok: problems.length === 0, problems: problems.slice(0, 20) };
}

// ---- the surge against one instance, with the ceilings of the same run ----

type SurgeRun = Awaited<ReturnType<typeof surgeRun>>;

async function surgeRun(databaseUrl: string, cpuProfileDir?: string) {
  const knex = knexFactory(buildKnexConfig({ url: databaseUrl, poolMin: 0, poolMax: 4 }));
  try {
    const surge = await surgeScenario(databaseUrl, knex, cpuProfileDir);
    const httpCeiling = await httpCeilingScenario(surge.plan.length);
    const databaseCeiling = await databaseCeilingScenario(databaseUrl);
    return summarizeSurge(surge, httpCeiling, databaseCeiling);
  } finally {
    await knex.destroy();
  }
}

async function surgeScenario(databaseUrl: string, knex: Knex, cpuProfileDir?: string) {
  const service = startService(
    SERVICE_PORT,
    { DATABASE_URL: databaseUrl },
    cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : [],
  );
  const baseUrl = `http://127.0.0.1:${SERVICE_PORT}`;
  await waitFor(async () => (await fetch(`${baseUrl}/health/ready`)).ok, 30_000, 'the service');

  // A service is up before its opening second: warm it (JIT, connection pool) on an event of its own.
  const warmUpKey = await createEvent(baseUrl, 'warm-up', scenario.tickets);
  const warmUp = stormPlan(warmUpKey, scenario.users, scenario.retransmitRatio).slice(0, 5_000);
  await runLoad('warm-up', warmUp, [baseUrl], scenario.connections);

  const eventKey = await createEvent(baseUrl, 'surge', scenario.tickets);
  const plan = stormPlan(eventKey, scenario.users, scenario.retransmitRatio);
  const results = await runLoad('surge', plan, [baseUrl], scenario.connections);
  const peakRss = peakRssMb(service.child.pid!);
  const totals = await stopService(service);
  const invariants = await checkInvariants(knex, eventKey, scenario.tickets, plan, results);
  return { plan, results, peakRss, totals, invariants };
}

async function httpCeilingScenario(requestCount: number) {
  const server = startProcess(
    join(__dirname, 'http-ceiling-server.js'),
    [String(CEILING_PORT)],
    {},
  );
  const baseUrl = `http://127.0.0.1:${CEILING_PORT}`;
  await waitFor(
    () => Promise.resolve(server.lines.includes('ready')),
    10_000,
    'the ceiling server',
  );
  const plan: PlannedRequest[] = Array.from({ length: requestCount }, () => ({
    method: 'POST',
    path: '/ceiling',
    body: { userId: 1 },
  }));
  const results = await runLoad('http-ceiling', plan, [baseUrl], scenario.connections);
  server.child.kill('SIGTERM');
  await server.exited;
  return {
    requestsPerSecond: Math.round(requestCount / (results.durationMs / 1000)),
    latency: latencySummary(results.latencyMs),
  };
}

/** As many direct pg clients as the service's pool, each doing one durable INSERT … ON CONFLICT DO NOTHING per ticket. */
async function databaseCeilingScenario(databaseUrl: string) {
  const rows = 20_000;
  const setup = new Client({ connectionString: databaseUrl });
  await setup.connect();
  await setup.query(
    'CREATE TABLE bench_ceiling (event_id bigint NOT NULL, user_id bigint NOT NULL, issued_at timestamptz NOT NULL, PRIMARY KEY (event_id, user_id))',
  );
  const clients = await Promise.all(
    Array.from({ length: POOL_MAX }, async () => {
      const client = new Client({ connectionString: databaseUrl });
      await client.connect();
      return client;
    }),
  );
  let next = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      for (let userId = next++; userId < rows; userId = next++) {
        await client.query(
          'INSERT INTO bench_ceiling (event_id, user_id, issued_at) VALUES (1, $1, now()) ON CONFLICT DO NOTHING',
          [userId],
        );
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((client) => client.end()));
  await setup.end();
  return { insertsPerSecond: Math.round(rows / seconds), clients: POOL_MAX };
}

function summarizeSurge(
  surge: Awaited<ReturnType<typeof surgeScenario>>,
  httpCeiling: Awaited<ReturnType<typeof httpCeilingScenario>>,
  databaseCeiling: Awaited<ReturnType<typeof databaseCeilingScenario>>,
) {
  const { plan, results } = surge;
  const statusCounts: Record<string, number> = {};
  results.status.forEach((status) => (statusCounts[status] = (statusCounts[status] ?? 0) + 1));
  const { outcome, lastIssuedMs, issuedPerSecond, rejectedPerSecond } = issuanceRates(
    plan,
    results,
  );
  const latencies: Record<string, number[]> = {};
  plan.forEach((_, index) => (latencies[outcome(index)] ??= []).push(results.latencyMs[index]));
  const latencyMsByOutcome = Object.fromEntries(
    Object.entries(latencies).map(([name, values]) => [name, latencySummary(values)]),
  );
  const worstP99 = Math.max(...Object.values(latencyMsByOutcome).map((l) => l.p99));
  return {
    surge: {
      requests: plan.length,
      durationMs: Math.round(results.durationMs),
      requestsPerSecond: Math.round(plan.length / (results.durationMs / 1000)),
      firstWaveMs: Math.round(lastIssuedMs),
      issuedTicketsPerSecond: issuedPerSecond,
      rejectedAnswersPerSecond: rejectedPerSecond,
      statusCounts,
      latencyMsByOutcome,
      worstP99Ms: worstP99,
      serverErrors: results.status.filter((status) => status >= 500 || status < 0).length,
      serializationRetriesPerIssuedTicket: surge.totals.retries / Math.max(1, surge.totals.issued),
      issuanceTotals: surge.totals,
      servicePeakRssMb: surge.peakRss,
      invariants: surge.invariants,
    },
    ceilings: { http: httpCeiling, database: databaseCeiling },
    ratios: {
      wholeSurgeToHttpCeiling: round2(
        plan.length / (results.durationMs / 1000) / httpCeiling.requestsPerSecond,
      ),
      issuedToDatabaseCeiling: round2(issuedPerSecond / databaseCeiling.insertsPerSecond),
      rejectedToHttpCeiling: round2(rejectedPerSecond / httpCeiling.requestsPerSecond),
      worstP99ToHttpCeilingP99: round2(worstP99 / httpCeiling.latency.p99),
    },
  };
}

/**
 * What a storm's ticket requests got, and its two rates: tickets issued per second over the first wave
 * (until the last ticket), and sold-out answers per second after it.
 */
function issuanceRates(plan: Planned[], results: LoadResults) {
  const outcome = (index: number): string => {
    const status = results.status[index];
    if (plan[index].kind === 'read') return 'read';
    if (status === 201 && plan[index].kind === 'original') return 'issued';
    if (status === 200 || status === 201) return 'repeat';
    if (status === 409 && results.message[index] === SOLD_OUT) return 'soldOut';
    if (status === 409) return 'inFlight';
    return `status${status}`;
  };
  const indexes = plan.map((_, i) => i);
  const issuedEnds = indexes.filter((i) => outcome(i) === 'issued').map((i) => results.endMs[i]);
  const lastIssuedMs = Math.max(...issuedEnds);
  const soldOutEnds = indexes
    .filter((i) => outcome(i) === 'soldOut' && results.endMs[i] > lastIssuedMs)
    .map((i) => results.endMs[i]);
  const soldOutWindowMs = Math.max(...soldOutEnds) - lastIssuedMs;
  return {
    outcome,
    lastIssuedMs,
    issuedPerSecond: Math.round(issuedEnds.length / (lastIssuedMs / 1000)),
    rejectedPerSecond: Math.round(soldOutEnds.length / (soldOutWindowMs / 1000)),
  };
}

// ---- reads: the drop as users make it (event pages between ticket requests), and the read storm ----

type ReadsRun = Awaited<ReturnType<typeof readsRun>>;

/** Event-page reads per ticket request in the mixed drop, from the same connections. */
const READS_PER_TICKET_REQUEST = 3;
/** Requests and connections of each read-only storm (one route at a time). */
const READ_STORM = { requests: 40_000, connections: 200 };

/**
 * One service on a fresh database: the surge's storm without reads and with three event-page reads after
 * each ticket request (the order alternating between runs, each on an event of its own), then read-only
 * storms of each route between two of /health/live, whose mean is the run's reference.
 */
async function readsRun(databaseUrl: string, run: number, cpuProfileDir?: string) {
  const service = startService(
    SERVICE_PORT,
    { DATABASE_URL: databaseUrl },
    cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : [],
  );
  const baseUrl = `http://127.0.0.1:${SERVICE_PORT}`;
  const knex = knexFactory(buildKnexConfig({ url: databaseUrl, poolMin: 0, poolMax: 4 }));
  try {
    await waitFor(async () => (await fetch(`${baseUrl}/health/ready`)).ok, 30_000, 'the service');
    const warmUpKey = await createEvent(baseUrl, 'warm-up', scenario.tickets);
    const warmUp = withReads(
      stormPlan(warmUpKey, scenario.users, scenario.retransmitRatio).slice(0, 5_000),
      warmUpKey,
    );
    await runLoad('reads-warm-up', warmUp, [baseUrl], scenario.connections);

    const drop = async (mixed: boolean) => {
      const eventKey = await createEvent(baseUrl, mixed ? 'mixed' : 'plain', scenario.tickets);
      const tickets = stormPlan(eventKey, scenario.users, scenario.retransmitRatio);
      const plan = mixed ? withReads(tickets, eventKey) : tickets;
      const results = await runLoad(
        mixed ? 'mixed' : 'plain',
        plan,
        [baseUrl],
        scenario.connections,
      );
      const rates = issuanceRates(plan, results);
      const reads = plan.filter((request) => request.kind === 'read').length;
      return {
        eventKey,
        plan,
        results,
        issuedPerSecond: rates.issuedPerSecond,
        rejectedPerSecond: rates.rejectedPerSecond,
        readsPerSecond: Math.round(reads / (results.durationMs / 1000)),
        serverErrors: results.status.filter((status) => status >= 500 || status < 0).length,
        readsNot200: plan.filter((r, i) => r.kind === 'read' && results.status[i] !== 200).length,
      };
    };
    const mixedFirst = run % 2 === 0;
    const first = await drop(mixedFirst);
    const second = await drop(!mixedFirst);
    const [plain, mixed] = mixedFirst ? [second, first] : [first, second];

    const storm = async (name: string, pathOf: (i: number) => string) => {
      const plan: PlannedRequest[] = Array.from({ length: READ_STORM.requests }, (_, i) => ({
        method: 'GET',
        path: pathOf(i),
      }));
      const results = await runLoad(`read-${name}`, plan, [baseUrl], READ_STORM.connections);
      const not200 = results.status.filter((status) => status !== 200).length;
      if (not200 > 0) throw new Error(`${name}: ${not200} answers were not 200`);
      return Math.round(plan.length / (results.durationMs / 1000));
    };
    const livenessBefore = await storm('liveness-1', () => '/health/live');
    const event = await storm('event', () => `/events/${mixed.eventKey}`);
    const list = await storm('list', () => '/events');
    const userTickets = await storm(
      'user-tickets',
      (i) => `/users/${(i % scenario.users) + 1}/tickets`,
    );
    const livenessAfter = await storm('liveness-2', () => '/health/live');
    const liveness = Math.round((livenessBefore + livenessAfter) / 2);

    await stopService(service);
    const invariants = [
      await checkInvariants(knex, plain.eventKey, scenario.tickets, plain.plan, plain.results),
      await checkInvariants(knex, mixed.eventKey, scenario.tickets, mixed.plan, mixed.results),
    ];
    const pickDrop = ({ plan: _p, results: _r, eventKey: _e, ...figures }: typeof plain) => figures;
    return {
      mixedFirst,
      readsPerSecond: { liveness, livenessBefore, livenessAfter, event, list, userTickets },
      ratios: {
        eventToLiveness: round2(event / liveness),
        listToLiveness: round2(list / liveness),
        userTicketsToLiveness: round2(userTickets / liveness),
        mixedSoldOutToPlain: round2(mixed.rejectedPerSecond / plain.rejectedPerSecond),
        mixedIssuedToPlain: round2(mixed.issuedPerSecond / plain.issuedPerSecond),
        // Were the reads only sharing the CPU? What the two costs measured alone predict for the mix.
        mixedSoldOutToCostModel: round2(
          mixed.rejectedPerSecond /
            (1 / (1 / plain.rejectedPerSecond + READS_PER_TICKET_REQUEST / event)),
        ),
      },
      plain: pickDrop(plain),
      mixed: pickDrop(mixed),
      invariants: {
        ok: invariants.every((i) => i.ok),
        problems: invariants.flatMap((i) => i.problems),
      },
    };
  } finally {
    if (service.child.exitCode === null) service.child.kill();
    await knex.destroy();
  }
}

/** The storm with READS_PER_TICKET_REQUEST reads of the event's page after each ticket request. */
function withReads(plan: Planned[], eventKey: string): Planned[] {
  const read: Planned = { method: 'GET', path: `/events/${eventKey}`, userId: 0, kind: 'read' };
  return plan.flatMap((request) => [
    request,
    ...Array.from({ length: READS_PER_TICKET_REQUEST }, () => read),
  ]);
}

// ---- scale out: the same kind of storm over 1, 2, 3 instances on one database ----

type ScaleOutRun = Awaited<ReturnType<typeof scaleOutRun>>;

async function scaleOutRun(serverUrl: string) {
  const redisUrl = await localRedis();
  const byInstances: Array<Awaited<ReturnType<typeof scaleOutStorm>>> = [];
  for (const instances of scenario.scaleOut.instances) {
    byInstances.push(await scaleOutStorm(await freshDatabase(serverUrl), instances, redisUrl));
  }
  return { redis: redisUrl !== undefined, byInstances };
}

async function scaleOutStorm(databaseUrl: string, instances: number, redisUrl?: string) {
  const { users, tickets, connections, retransmitRatio } = scenario.scaleOut;
  const ports = Array.from({ length: instances }, (_, i) => SERVICE_PORT + 10 + i);
  const baseUrls = ports.map((port) => `http://127.0.0.1:${port}`);
  const env = {
    DATABASE_URL: databaseUrl,
    ...(redisUrl ? { REDIS_URL: redisUrl, THROTTLE_KEY_PREFIX: `bench-${Date.now()}` } : {}),
  };
  // Started together on an empty database: they migrate once between them.
  const services = ports.map((port) => startService(port, env));
  const knex = knexFactory(buildKnexConfig({ url: databaseUrl, poolMin: 0, poolMax: 4 }));
  try {
    await Promise.all(
      baseUrls.map((url) =>
        waitFor(async () => (await fetch(`${url}/health/ready`)).ok, 30_000, url),
      ),
    );
    // Random instance for each original; a copy always lands on another instance than its original.
    const instanceOf = (userId: number) => ((userId * 2_654_435_761) % 2 ** 32) % instances;
    const targetOf = (userId: number, copy: boolean) =>
      copy ? (instanceOf(userId) + 1) % instances : instanceOf(userId);
    const warmUpKey = await createEvent(baseUrls[0], 'scale-warm-up', tickets);
    await runLoad(
      'scale-warm-up',
      stormPlan(warmUpKey, users, retransmitRatio, targetOf).slice(0, 2_000),
      baseUrls,
      connections,
    );
    const eventKey = await createEvent(baseUrls[0], 'scale-out', tickets);
    const plan = stormPlan(eventKey, users, retransmitRatio, targetOf);
    const results = await runLoad(`scale-out-${instances}`, plan, baseUrls, connections);
    const totals = await Promise.all(services.map(stopService));
    const invariants = await checkInvariants(knex, eventKey, tickets, plan, results);
    return {
      instances,
      requests: plan.length,
      requestsPerSecond: Math.round(plan.length / (results.durationMs / 1000)),
      unavailable503: results.status.filter((status) => status === 503).length,
      otherServerErrors: results.status.filter((s) => (s >= 500 && s !== 503) || s < 0).length,
      serializationRetries: totals.reduce((sum, t) => sum + t.retries, 0),
      batches: totals.reduce((sum, t) => sum + t.batches, 0),
      invariants,
    };
  } finally {
    for (const service of services) if (service.child.exitCode === null) service.child.kill();
    await knex.destroy();
  }
}

// ---- the report ----

function report(
  options: Options,
  runs: SurgeRun[],
  scaleOutRuns: ScaleOutRun[],
  readsRuns: ReadsRun[],
  midnight: Awaited<ReturnType<typeof runMidnightScenario>> | undefined,
) {
  const rows: Array<[string, string]> = [];
  const output: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    runs: options.runs,
    scenario,
  };
  let invariantsOk = true;

  if (runs.length > 0) {
    // The run with the median sold-out ratio gives the details; every ratio is the median over runs.
    const byRejected = [...runs].sort(
      (a, b) => a.ratios.rejectedToHttpCeiling - b.ratios.rejectedToHttpCeiling,
    );
    const typical = byRejected[Math.floor((byRejected.length - 1) / 2)];
    const ratios = {
      wholeSurgeToHttpCeiling: median(runs.map((r) => r.ratios.wholeSurgeToHttpCeiling)),
      issuedToDatabaseCeiling: median(runs.map((r) => r.ratios.issuedToDatabaseCeiling)),
      rejectedToHttpCeiling: median(runs.map((r) => r.ratios.rejectedToHttpCeiling)),
      worstP99ToHttpCeilingP99: median(runs.map((r) => r.ratios.worstP99ToHttpCeilingP99)),
    };
    const surgeOk = runs.every((r) => r.surge.invariants.ok);
    invariantsOk &&= surgeOk && (midnight?.ok ?? true);
    Object.assign(output, {
      surge: typical.surge,
      ceilings: typical.ceilings,
      ratios,
      perRun: runs.map((r) => ({ ratios: r.ratios, surge: pick(r.surge) })),
      targets: {
        rejectedAtLeast06HttpCeiling: ratios.rejectedToHttpCeiling >= 0.6,
        issuedAtLeastHalfDatabaseCeiling: ratios.issuedToDatabaseCeiling >= 0.5,
        worstP99AtMost125CeilingP99: ratios.worstP99ToHttpCeilingP99 <= 1.25,
        no5xx: runs.every((r) => r.surge.serverErrors === 0),
        invariants: surgeOk,
        peakRssAtMost300Mb: runs.every((r) => r.surge.servicePeakRssMb <= 300),
      },
      midnight,
    });
    const s = typical.surge;
    rows.push(
      ['runs (median of)', String(runs.length)],
      ['requests (incl. 20% retransmissions)', String(s.requests)],
      [
        'whole surge req / s',
        `${s.requestsPerSecond}  (${ratios.wholeSurgeToHttpCeiling} × HTTP ceiling)`,
      ],
      [
        'issued tickets / s',
        `${s.issuedTicketsPerSecond}  (${ratios.issuedToDatabaseCeiling} × DB ceiling); first wave ${s.firstWaveMs} ms`,
      ],
      [
        'sold-out answers / s',
        `${s.rejectedAnswersPerSecond}  (${ratios.rejectedToHttpCeiling} × HTTP ceiling)`,
      ],
      [
        'HTTP ceiling (bare Fastify) req / s',
        `${typical.ceilings.http.requestsPerSecond}, p99 ${typical.ceilings.http.latency.p99} ms`,
      ],
      [
        `DB ceiling (${typical.ceilings.database.clients} clients, durable inserts) / s`,
        String(typical.ceilings.database.insertsPerSecond),
      ],
      ...Object.entries(s.latencyMsByOutcome).map(([name, l]): [string, string] => [
        `latency ${name} (n=${l.count})`,
        `p50 ${l.p50}  p95 ${l.p95}  p99 ${l.p99}  max ${l.max} ms`,
      ]),
      ['worst p99 / ceiling p99', String(ratios.worstP99ToHttpCeilingP99)],
      ['status counts', JSON.stringify(s.statusCounts)],
      [
        'batches (first ones: size/ms)',
        `${s.issuanceTotals.batches}; ${(s.issuanceTotals.firstBatches ?? [])
          .slice(0, 8)
          .map((b) => `${b.size}/${b.ms}`)
          .join(' ')}`,
      ],
      ['serialization retries / issued ticket', String(s.serializationRetriesPerIssuedTicket)],
      ['service peak RSS', `${s.servicePeakRssMb} MB`],
      [
        'invariants',
        surgeOk ? 'ok' : `BROKEN: ${runs.flatMap((r) => r.surge.invariants.problems).join('; ')}`,
      ],
      [
        'midnight: cap reset exactly once',
        !midnight ? '—' : midnight.ok ? 'ok' : `BROKEN: ${midnight.problems.join('; ')}`,
      ],
    );
  }

  if (scaleOutRuns.length > 0) {
    const counts = scenario.scaleOut.instances;
    const byInstances = counts.map((instances, i) => {
      const samples = scaleOutRuns.map((run) => run.byInstances[i]);
      return {
        instances,
        requestsPerSecond: median(samples.map((s) => s.requestsPerSecond)),
        unavailable503: Math.max(...samples.map((s) => s.unavailable503)),
        otherServerErrors: Math.max(...samples.map((s) => s.otherServerErrors)),
        serializationRetries: median(samples.map((s) => s.serializationRetries)),
        batches: median(samples.map((s) => s.batches)),
        invariants: samples.every((s) => s.invariants.ok),
        problems: samples.flatMap((s) => s.invariants.problems).slice(0, 10),
      };
    });
    const single = byInstances[0].requestsPerSecond;
    const scaleOut = {
      redis: scaleOutRuns[0].redis,
      byInstances: byInstances.map((n) => ({
        ...n,
        throughputVsOne: round2(n.requestsPerSecond / single),
      })),
    };
    const three = scaleOut.byInstances[scaleOut.byInstances.length - 1];
    output.scaleOut = {
      ...scaleOut,
      targets: {
        threeInstancesAtLeast07OfOne: three.throughputVsOne >= 0.7,
        no503: scaleOut.byInstances.every((n) => n.unavailable503 === 0),
        invariants: scaleOut.byInstances.every((n) => n.invariants),
      },
    };
    invariantsOk &&= scaleOut.byInstances.every((n) => n.invariants);
    rows.push(
      [
        'scale-out storm',
        `${scenario.scaleOut.users} users, ${scenario.scaleOut.tickets} tickets, ${scenario.scaleOut.connections} connections, redis ${scaleOut.redis}`,
      ],
      ...scaleOut.byInstances.map((n): [string, string] => [
        `  ${n.instances} instance(s)`,
        `${n.requestsPerSecond} req/s (${n.throughputVsOne}×), 503s ${n.unavailable503}, other 5xx ${n.otherServerErrors}, retries ${n.serializationRetries}, batches ${n.batches}, invariants ${n.invariants ? 'ok' : `BROKEN: ${n.problems.join('; ')}`}`,
      ]),
    );
  }

  if (readsRuns.length > 0) {
    const med = (pick: (run: ReadsRun) => number) => median(readsRuns.map(pick));
    const each = (pick: (run: ReadsRun) => number) => readsRuns.map(pick).join(', ');
    const ratios = {
      eventToLiveness: med((r) => r.ratios.eventToLiveness),
      listToLiveness: med((r) => r.ratios.listToLiveness),
      userTicketsToLiveness: med((r) => r.ratios.userTicketsToLiveness),
      mixedSoldOutToPlain: med((r) => r.ratios.mixedSoldOutToPlain),
      mixedIssuedToPlain: med((r) => r.ratios.mixedIssuedToPlain),
      mixedSoldOutToCostModel: med((r) => r.ratios.mixedSoldOutToCostModel),
    };
    const readsOk = readsRuns.every((r) => r.invariants.ok);
    invariantsOk &&= readsOk;
    output.reads = {
      readsPerTicketRequest: READS_PER_TICKET_REQUEST,
      readStorm: READ_STORM,
      ratios,
      perRun: readsRuns,
      targets: {
        eventAtLeast06Liveness: ratios.eventToLiveness >= 0.6,
        listAtLeast05Liveness: ratios.listToLiveness >= 0.5,
        userTicketsAtLeast035Liveness: ratios.userTicketsToLiveness >= 0.35,
        mixedSoldOutAtLeast09Plain: ratios.mixedSoldOutToPlain >= 0.9,
        no5xx: readsRuns.every((r) => r.plain.serverErrors + r.mixed.serverErrors === 0),
        invariants: readsOk,
      },
    };
    rows.push(
      [
        'read storm',
        `${READ_STORM.requests} requests per route, ${READ_STORM.connections} connections`,
      ],
      ['  GET /health/live req / s', each((r) => r.readsPerSecond.liveness)],
      [
        '  GET /events/:eventKey',
        `${ratios.eventToLiveness} × liveness (runs: ${each((r) => r.ratios.eventToLiveness)}; req/s ${each((r) => r.readsPerSecond.event)})`,
      ],
      [
        '  GET /events',
        `${ratios.listToLiveness} × liveness (runs: ${each((r) => r.ratios.listToLiveness)}; req/s ${each((r) => r.readsPerSecond.list)})`,
      ],
      [
        '  GET /users/:userId/tickets',
        `${ratios.userTicketsToLiveness} × liveness (runs: ${each((r) => r.ratios.userTicketsToLiveness)}; req/s ${each((r) => r.readsPerSecond.userTickets)})`,
      ],
      [
        `the drop with ${READS_PER_TICKET_REQUEST} page reads per ticket request`,
        `sold-out answers / s ${ratios.mixedSoldOutToPlain} × without reads (runs: ${each((r) => r.ratios.mixedSoldOutToPlain)}; ${each((r) => r.mixed.rejectedPerSecond)} vs ${each((r) => r.plain.rejectedPerSecond)})`,
      ],
      [
        '  issued tickets / s',
        `${ratios.mixedIssuedToPlain} × without reads (runs: ${each((r) => r.ratios.mixedIssuedToPlain)}; ${each((r) => r.mixed.issuedPerSecond)} vs ${each((r) => r.plain.issuedPerSecond)})`,
      ],
      [
        '  sold-out / s vs the costs alone',
        `${ratios.mixedSoldOutToCostModel} × (1 / (1/plain + ${READS_PER_TICKET_REQUEST}/event reads); runs: ${each((r) => r.ratios.mixedSoldOutToCostModel)})`,
      ],
      ['  reads / s during the drop', each((r) => r.mixed.readsPerSecond)],
      [
        '  5xx · reads not 200 · invariants',
        `${each((r) => r.plain.serverErrors + r.mixed.serverErrors)} · ${each((r) => r.mixed.readsNot200)} · ${readsOk ? 'ok' : `BROKEN: ${readsRuns.flatMap((r) => r.invariants.problems).join('; ')}`}`,
      ],
    );
  }

  const width = Math.max(...rows.map(([name]) => name.length));
  console.log('\nGolden Ticket benchmark');
  for (const [name, value] of rows) console.log(`  ${name.padEnd(width)}  ${value}`);
  if (output.targets) console.log('\ntargets:', JSON.stringify(output.targets));
  if (output.reads) {
    console.log('reads targets:', JSON.stringify((output.reads as { targets: unknown }).targets));
  }
  if (output.scaleOut) {
    console.log(
      'scale-out targets:',
      JSON.stringify((output.scaleOut as { targets: unknown }).targets),
    );
  }

  const dir = join(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(output, null, 2)}\n`);
  console.log(`written: bench/results/latest.json`);
  if (!invariantsOk) {
    console.error('INVARIANT BROKEN');
    process.exitCode = 1;
  }
}

/** The headline figures of one run (the per-run list stays short). */
function pick(surge: SurgeRun['surge']) {
  return {
    requestsPerSecond: surge.requestsPerSecond,
    issuedTicketsPerSecond: surge.issuedTicketsPerSecond,
    rejectedAnswersPerSecond: surge.rejectedAnswersPerSecond,
    worstP99Ms: surge.worstP99Ms,
    firstWaveMs: surge.firstWaveMs,
    servicePeakRssMb: surge.servicePeakRssMb,
  };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
