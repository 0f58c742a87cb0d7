/**
 * `npm run bench`: the opening-second surge against the production build, side by side with this machine's
 * HTTP and database ceilings measured in the same run, then the invariants checked in the database.
 * Prints one table and writes bench/results/latest.json. A benchmark, not a test: it asserts no timing,
 * but it fails loudly when an invariant is broken.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory, { Knex } from 'knex';
import { Client } from 'pg';
import scenario from '../loadtest/scenario.json';
import { buildKnexConfig } from '../src/database/knex-config';
import { startEmbeddedPostgres } from '../src/database/embedded-postgres';
import type { LoadResults, PlannedRequest } from './load-client';
import { runMidnightScenario } from './midnight';
import {
  latencySummary,
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

interface Planned extends PlannedRequest {
  userId: number;
  kind: 'original' | 'retransmit-key' | 'retransmit-natural';
}

async function main(): Promise<void> {
  const { serverUrl, stopServer } = await databaseServer();
  const databaseUrl = await freshDatabase(serverUrl);
  const knex = knexFactory(buildKnexConfig({ url: databaseUrl, poolMin: 0, poolMax: 4 }));
  try {
    const surge = await surgeScenario(databaseUrl, knex);
    const httpCeiling = await httpCeilingScenario(surge.requestCount);
    const databaseCeiling = await databaseCeilingScenario(databaseUrl);
    const midnight = await runMidnightScenario(databaseUrl, scenario.midnight);
    report({ surge, httpCeiling, databaseCeiling, midnight });
  } finally {
    await knex.destroy();
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

async function freshDatabase(serverUrl: string): Promise<string> {
  const name = `golden_ticket_bench_${Date.now()}`;
  const url = new URL(serverUrl);
  url.pathname = '/postgres';
  const admin = knexFactory(buildKnexConfig({ url: url.toString(), poolMin: 0 }));
  await admin.raw(`CREATE DATABASE "${name}"`);
  await admin.destroy();
  url.pathname = `/${name}`;
  return url.toString();
}

/** Originals in random order; each retransmission lands somewhere after its original, often while it runs. */
function surgePlan(eventKey: string): Planned[] {
  const path = `/events/${eventKey}/tickets`;
  const users = shuffle(Array.from({ length: scenario.users }, (_, i) => i + 1));
  const request = (userId: number, kind: Planned['kind'], withKey: boolean): Planned => ({
    method: 'POST',
    path,
    body: { userId },
    headers: withKey ? { 'idempotency-key': `${eventKey}-${userId}` } : {},
    userId,
    kind,
  });
  const positionOf = new Map(users.map((userId, position) => [userId, position]));
  // Each retransmission goes right after the original at most 1,500 places later.
  const after = new Map<number, Planned[]>();
  shuffle(users, 7)
    .slice(0, Math.round(scenario.users * scenario.retransmitRatio))
    .forEach((userId, index) => {
      const withKey = index % 2 === 0;
      const at = Math.min(users.length - 1, positionOf.get(userId)! + ((userId * 7919) % 1500));
      const copy = request(userId, withKey ? 'retransmit-key' : 'retransmit-natural', withKey);
      after.set(at, [...(after.get(at) ?? []), copy]);
    });
  return users.flatMap((userId, position) => [
    request(userId, 'original', true),
    ...(after.get(position) ?? []),
  ]);
}

async function surgeScenario(databaseUrl: string, knex: Knex) {
  const service = startProcess(join(__dirname, '..', 'src', 'main.js'), [], {
    DATABASE_URL: databaseUrl,
    PORT: String(SERVICE_PORT),
    HOST: '127.0.0.1',
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    DB_POOL_MAX: String(POOL_MAX),
    THROTTLE_IP_LIMIT: '100000000',
    THROTTLE_USER_LIMIT: '1000',
    SHUTDOWN_READINESS_DELAY_MS: '0',
  });
  const baseUrl = `http://127.0.0.1:${SERVICE_PORT}`;
  await waitFor(async () => (await fetch(`${baseUrl}/health/ready`)).ok, 30_000, 'the service');

  // A service is up before its opening second: warm it (JIT, connection pool) on an event of its own.
  const warmUpKey = await createEvent(baseUrl, 'warm-up', scenario.tickets);
  await runLoad('warm-up', surgePlan(warmUpKey).slice(0, 5_000), baseUrl, scenario.connections);

  const eventKey = await createEvent(baseUrl, 'surge', scenario.tickets);
  const plan = surgePlan(eventKey);
  const results = await runLoad('surge', plan, baseUrl, scenario.connections);
  const peakRss = peakRssMb(service.child.pid!);
  service.child.kill('SIGTERM');
  await service.exited;
  const totals = service.lines
    .map((line) => JSON.parse(line) as { issuanceTotals?: Record<string, number> })
    .find((entry) => entry.issuanceTotals)?.issuanceTotals;

  const invariants = await checkSurgeInvariants(knex, eventKey, plan, results);
  return { requestCount: plan.length, plan, results, peakRss, totals, invariants };
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

async function checkSurgeInvariants(
  knex: Knex,
  eventKey: string,
  plan: Planned[],
  results: LoadResults,
) {
  const tickets: Array<{ userId: number; id: string }> = await knex('tickets')
    .join('events', 'events.id', 'tickets.eventId')
    .where('events.eventKey', eventKey)
    .select('tickets.userId', 'tickets.id');
  const event = await knex<{ eventKey: string; issuedCount: number }>('events')
    .where({ eventKey })
    .first();
  const unfinishedKeys = await knex('idempotencyKeys')
    .whereNull('responseStatus')
    .count({ n: '*' });
  const ticketOf = new Map(tickets.map((ticket) => [ticket.userId, ticket.id]));
  const answered = new Map<number, Set<string>>();
  plan.forEach((request, index) => {
    const ticketId = results.ticketId[index];
    if (ticketId)
      answered.set(request.userId, (answered.get(request.userId) ?? new Set()).add(ticketId));
  });
  const problems: string[] = [];
  if (tickets.length !== scenario.tickets)
    problems.push(`${tickets.length} tickets, expected ${scenario.tickets}`);
  if (ticketOf.size !== tickets.length) problems.push('a user holds more than one ticket');
  if (event?.issuedCount !== tickets.length)
    problems.push(`issued_count ${event?.issuedCount} ≠ ${tickets.length} tickets`);
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
  const results = await runLoad('http-ceiling', plan, baseUrl, scenario.connections);
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

function report(run: {
  surge: Awaited<ReturnType<typeof surgeScenario>>;
  httpCeiling: Awaited<ReturnType<typeof httpCeilingScenario>>;
  databaseCeiling: Awaited<ReturnType<typeof databaseCeilingScenario>>;
  midnight: Awaited<ReturnType<typeof runMidnightScenario>>;
}) {
  const { surge, httpCeiling, databaseCeiling, midnight } = run;
  const { plan, results } = surge;
  const statusCounts: Record<string, number> = {};
  results.status.forEach((status) => (statusCounts[status] = (statusCounts[status] ?? 0) + 1));

  const outcome = (index: number): string => {
    const status = results.status[index];
    if (status === 201 && plan[index].kind === 'original') return 'issued';
    if (status === 200 || status === 201) return 'repeat';
    if (status === 409 && results.message[index] === SOLD_OUT) return 'soldOut';
    if (status === 409) return 'inFlight';
    return `status${status}`;
  };
  const latencies: Record<string, number[]> = {};
  plan.forEach((_, index) => (latencies[outcome(index)] ??= []).push(results.latencyMs[index]));
  const issuedEnds = plan
    .map((_, i) => i)
    .filter((i) => outcome(i) === 'issued')
    .map((i) => results.endMs[i]);
  const lastIssuedMs = Math.max(...issuedEnds);
  const soldOutEnds = plan
    .map((_, i) => i)
    .filter((i) => outcome(i) === 'soldOut' && results.endMs[i] > lastIssuedMs)
    .map((i) => results.endMs[i]);
  const soldOutWindowMs = Math.max(...soldOutEnds) - lastIssuedMs;

  const issuedPerSecond = Math.round(issuedEnds.length / (lastIssuedMs / 1000));
  const rejectedPerSecond = Math.round(soldOutEnds.length / (soldOutWindowMs / 1000));
  const serverErrors = results.status.filter((status) => status >= 500 || status < 0).length;
  const retriesPerTicket = surge.totals
    ? surge.totals.retries / Math.max(1, surge.totals.issued)
    : null;
  const worstP99 = Math.max(
    ...Object.values(latencies).map((values) => latencySummary(values).p99),
  );

  const output = {
    date: new Date().toISOString(),
    node: process.version,
    command: 'npm run bench',
    scenario,
    surge: {
      requests: plan.length,
      durationMs: Math.round(results.durationMs),
      issuedTicketsPerSecond: issuedPerSecond,
      rejectedAnswersPerSecond: rejectedPerSecond,
      statusCounts,
      latencyMsByOutcome: Object.fromEntries(
        Object.entries(latencies).map(([name, values]) => [name, latencySummary(values)]),
      ),
      serializationRetriesPerIssuedTicket: retriesPerTicket,
      issuanceTotals: surge.totals,
      servicePeakRssMb: surge.peakRss,
      invariants: surge.invariants,
    },
    ceilings: { http: httpCeiling, database: databaseCeiling },
    ratios: {
      issuedToDatabaseCeiling: round2(issuedPerSecond / databaseCeiling.insertsPerSecond),
      rejectedToHttpCeiling: round2(rejectedPerSecond / httpCeiling.requestsPerSecond),
    },
    targets: {
      issuedAtLeastHalfDatabaseCeiling: issuedPerSecond >= 0.5 * databaseCeiling.insertsPerSecond,
      rejectedAtLeastHalfHttpCeiling: rejectedPerSecond >= 0.5 * httpCeiling.requestsPerSecond,
      p99AtMost200ms: worstP99 <= 200,
      no5xx: serverErrors === 0,
      peakRssAtMost300Mb: surge.peakRss <= 300,
    },
    midnight,
  };

  const rows: Array<[string, string]> = [
    ['requests (incl. 20% retransmissions)', String(plan.length)],
    [
      'issued tickets / s',
      `${issuedPerSecond}  (${output.ratios.issuedToDatabaseCeiling} × DB ceiling)`,
    ],
    [
      'sold-out answers / s',
      `${rejectedPerSecond}  (${output.ratios.rejectedToHttpCeiling} × HTTP ceiling)`,
    ],
    ['HTTP ceiling (bare Fastify) req / s', String(httpCeiling.requestsPerSecond)],
    [
      `DB ceiling (${databaseCeiling.clients} clients, durable inserts) / s`,
      String(databaseCeiling.insertsPerSecond),
    ],
    ...Object.entries(output.surge.latencyMsByOutcome).map(([name, l]): [string, string] => [
      `latency ${name} (n=${l.count})`,
      `p50 ${l.p50}  p95 ${l.p95}  p99 ${l.p99}  max ${l.max} ms`,
    ]),
    ['status counts', JSON.stringify(statusCounts)],
    ['serialization retries / issued ticket', String(retriesPerTicket)],
    ['service peak RSS', `${surge.peakRss} MB`],
    ['invariants', surge.invariants.ok ? 'ok' : `BROKEN: ${surge.invariants.problems.join('; ')}`],
    [
      'midnight: cap reset exactly once',
      midnight.ok ? 'ok' : `BROKEN: ${midnight.problems.join('; ')}`,
    ],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  console.log('\nGolden Ticket surge benchmark');
  for (const [name, value] of rows) console.log(`  ${name.padEnd(width)}  ${value}`);
  console.log('\ntargets:', JSON.stringify(output.targets));

  const dir = join(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(output, null, 2)}\n`);
  console.log(`written: bench/results/latest.json`);
  if (!surge.invariants.ok || !midnight.ok) {
    console.error('INVARIANT BROKEN');
    process.exitCode = 1;
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
