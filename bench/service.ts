/**
 * What every scenario shares: the options, the database server and fresh databases, the service's production
 * build (startBenchService: start, warm-up, loads, stop), events, the storm plan, and the invariants checked
 * in the database.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory, { Knex } from 'knex';
import scenario from '../loadtest/scenario.json';
import { applyMigrations, buildKnexConfig } from '../src/database/knex-config';
import { startEmbeddedPostgres } from '../src/database/embedded-postgres';
import { freePort } from '../test/support/embedded-server';
import { redisServerInstalled, spawnRedisServer } from '../test/support/redis-server';
import type { LoadResults, PlannedRequest } from './load-client';
import {
  NodeOptions,
  Process,
  Unexplained,
  countingLoad,
  noUnexplained,
  nodeVersion,
  postEvent,
  runLoad,
  scratch,
  shuffle,
  startProcess,
  waitFor,
} from './support';

/**
 * The measured processes' ports: from BENCH_PORT (3390), the scenarios' others above it (scale-out +10,
 * fairness +20). Another worktree's bench on the same machine takes another BENCH_PORT: on a port already
 * taken the service would not start, and the load would go to the other bench's service.
 */
export const SERVICE_PORT = Number(process.env.BENCH_PORT ?? 3390);
export const CEILING_PORT = SERVICE_PORT + 1;
export const PEER_PORT = SERVICE_PORT + 2;
export const POOL_MAX = 20;
export const SOLD_OUT = '티켓이 모두 소진되었습니다.';
/** The compiled scripts the bench starts (this file runs from dist/bench). */
export const SCRIPTS = {
  service: join(__dirname, '..', 'src', 'main.js'),
  ceiling: join(__dirname, 'http-ceiling-server.js'),
  peer: join(__dirname, 'peer-server.js'),
};

export const SCENARIOS = [
  'surge',
  'scale-out',
  'reads',
  'cpu',
  'peer',
  'fairness',
  'capacity',
  'key-store',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Options {
  runs: number;
  /** What runs: every scenario, or the one of `--only`. The surge brings its ceilings, its peer and midnight. */
  scenarios: Set<ScenarioName>;
  /** The Node binary of the service, the ceiling server and the peer (`--node PATH`); the load client stays on the bench's. */
  node: string;
  /** `node --version` of that binary, as the service reports it. */
  serviceNode: string;
  /** Where the surge's (the reads', the CPU rounds') service writes a V8 CPU profile (`--cpu-prof DIR`), to find where time goes. */
  cpuProfileDir?: string;
}

export function parseOptions(argv: string[]): Options {
  const value = (name: string) => {
    const index = argv.indexOf(`--${name}`);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const runs = Number(value('runs') ?? 1);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a whole number ≥ 1');
  const only = value('only');
  if (only !== undefined && !(SCENARIOS as readonly string[]).includes(only)) {
    throw new Error(`--only takes ${SCENARIOS.join(', ')}`);
  }
  const node = value('node') ?? process.execPath;
  return {
    runs,
    // The peer is part of the surge (back to back with it); `--only peer` runs it alone. The capacity
    // model's unit costs and its check (a scale-out of its own) run with `--only capacity`, its key store
    // alone with `--only key-store`.
    scenarios: new Set(
      only
        ? [only as ScenarioName]
        : SCENARIOS.filter((name) => !['peer', 'capacity', 'key-store'].includes(name)),
    ),
    node,
    serviceNode: nodeVersion(node),
    cpuProfileDir: value('cpu-prof'),
  };
}

/** How the measured processes run: `--node`, and `--cpu-prof` for the services that take it. */
export function nodeOptions(options: Options, profile = false): NodeOptions {
  return {
    node: options.node,
    nodeArgs:
      profile && options.cpuProfileDir
        ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`]
        : [],
  };
}

export async function databaseServer(): Promise<{
  serverUrl: string;
  stopServer: () => Promise<void>;
}> {
  if (process.env.DATABASE_URL)
    return { serverUrl: process.env.DATABASE_URL, stopServer: async () => {} };
  const embedded = await startEmbeddedPostgres({
    dir: join(scratch, 'pg'),
    // A free port: another bench (another worktree's) may hold any fixed one.
    port: await freePort(),
    persistent: false,
    database: 'golden_ticket_bench',
  });
  return { serverUrl: embedded.url, stopServer: () => embedded.stop() };
}

let databases = 0;
export async function freshDatabase(serverUrl: string): Promise<string> {
  const name = `golden_ticket_bench_${Date.now()}_${databases++}`;
  const url = new URL(serverUrl);
  url.pathname = '/postgres';
  const admin = knexFactory(buildKnexConfig({ url: url.toString(), poolMin: 0 }));
  await admin.raw(`CREATE DATABASE "${name}"`);
  await admin.destroy();
  url.pathname = `/${name}`;
  return url.toString();
}

/** A fresh database with the service's schema, for a scenario that writes it without a service. */
export async function migratedDatabase(serverUrl: string): Promise<string> {
  const databaseUrl = await freshDatabase(serverUrl);
  const knex = benchKnex(databaseUrl);
  try {
    await applyMigrations(knex);
  } finally {
    await knex.destroy();
  }
  return databaseUrl;
}

export function benchKnex(databaseUrl: string, poolMax = 4): Knex {
  return knexFactory(buildKnexConfig({ url: databaseUrl, poolMin: 0, poolMax }));
}

/** A redis-server of the bench's own, or why there is none. */
export type BenchRedis = { url: string; pid: number; stop(): Promise<void> } | { skipped: string };

/**
 * A redis-server of the bench's own on a free port of 127.0.0.1, keeping nothing on disk — never the
 * machine's 6379 — for the scenarios that need Redis (the peer, the fairness runs); `stop()` ends it.
 * Without Debian's redis-server installed, what needs it is skipped with that note.
 */
export async function startBenchRedis(): Promise<BenchRedis> {
  if (!redisServerInstalled()) return { skipped: 'redis-server is not installed' };
  const port = await freePort();
  const child = await spawnRedisServer(port, 10_000);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The production build with throttles out of the way (the benchmark measures issuance, not shedding). */
function startServiceProcess(port: number, env: NodeJS.ProcessEnv, node: NodeOptions): Process {
  return startProcess(
    SCRIPTS.service,
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
      NODE_OPTIONS: imageNodeOptions(),
      ...env,
    },
    node,
  );
}

/** The V8 flags the image runs the service with (the Dockerfile's NODE_OPTIONS), so the bench runs it so too. */
function imageNodeOptions(): string {
  const dockerfile = readFileSync(join(__dirname, '..', '..', 'Dockerfile'), 'utf8');
  return /\bNODE_OPTIONS=(\S+)/.exec(dockerfile)?.[1] ?? '';
}

export const serviceUrl = (port: number) => `http://127.0.0.1:${port}`;

function serviceReady(baseUrl: string): Promise<void> {
  return waitFor(async () => (await fetch(`${baseUrl}/health/ready`)).ok, 30_000, baseUrl);
}

/** The service of a scenario: its instances on their database, and every load sent to them. */
export interface BenchService {
  /** Each instance's base URL, in start order. */
  urls: string[];
  /** The first instance's. */
  url: string;
  /** The instances' pids (their CPU time, their peak RSS). */
  pids: number[];
  databaseUrl: string;
  /** The bench's own connection to the database, to check the invariants. */
  knex: Knex;
  /** Runs `plan` against the instances (each request to its target) and counts what no rule explains. */
  load(name: string, plan: PlannedRequest[], connections?: number): Promise<LoadResults>;
  /** What no rule explains of every load so far, warm-up included. */
  unexplained: Unexplained;
  /** The instances' log lines at warn level or above, each after its instance's URL (to read beside `unexplained`). */
  warnings(): string[];
  /** SIGTERM to every instance; their issuance totals once they have exited. */
  stop(): Promise<IssuanceTotals[]>;
  /** After the scenario whatever happened: an instance still running is killed, the connection closed. */
  close(): Promise<void>;
}

export interface BenchServiceOptions {
  node: NodeOptions;
  /** Processes on the one database (1); started together, they migrate it once between them. */
  instances?: number;
  /** The first instance's port (SERVICE_PORT), the others' after it. */
  firstPort?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * The warm-up storm's name, on the first instance, and what `shape` adds to it (warmUpWith); a scenario
   * without one warms up its own way.
   */
  warmUp?: { name: string; shape?: (plan: Planned[], eventKey: string) => Planned[] };
}

/**
 * What every scenario starts: the production build as the image runs it (its NODE_OPTIONS) on a fresh
 * database, ready, and warmed up (JIT, connection pool) before its opening second.
 */
export async function startBenchService(
  serverUrl: string,
  { node, instances = 1, firstPort = SERVICE_PORT, env = {}, warmUp }: BenchServiceOptions,
): Promise<BenchService> {
  const databaseUrl = await freshDatabase(serverUrl);
  const ports = Array.from({ length: instances }, (_, i) => firstPort + i);
  const processes = ports.map((port) =>
    startServiceProcess(port, { DATABASE_URL: databaseUrl, ...env }, node),
  );
  const urls = ports.map(serviceUrl);
  const unexplained = noUnexplained();
  const load = countingLoad(urls, unexplained);
  const service: BenchService = {
    urls,
    url: urls[0],
    pids: processes.map((process) => process.child.pid!),
    databaseUrl,
    knex: benchKnex(databaseUrl),
    unexplained,
    load: (name, plan, connections = scenario.connections) => load(name, plan, connections),
    warnings: () =>
      processes.flatMap((process, i) =>
        process.lines.filter((line) => levelOf(line) >= 40).map((line) => `${urls[i]} ${line}`),
      ),
    stop: () => Promise.all(processes.map(stopService)),
    close: async () => {
      processes.forEach(killIfRunning);
      await service.knex.destroy();
    },
  };
  try {
    await Promise.all(urls.map(serviceReady));
    if (warmUp) {
      await warmUpWith(
        service.url,
        warmUp.name,
        (plan) => service.load(warmUp.name, plan),
        warmUp.shape,
      );
    }
    return service;
  } catch (error) {
    await service.close();
    throw error;
  }
}

/**
 * A process is up before its opening second: warmed up (JIT, connection pool) on an event of its own with the
 * first 5,000 requests of a storm (`shape` adds to them), sent by `load`.
 */
async function warmUpWith(
  baseUrl: string,
  name: string,
  load: (plan: Planned[]) => Promise<unknown>,
  shape: (plan: Planned[], eventKey: string) => Planned[] = (plan) => plan,
): Promise<void> {
  const eventKey = await createEvent(baseUrl, name, scenario.tickets);
  await load(
    shape(stormPlan(eventKey, scenario.users, scenario.retransmitRatio).slice(0, 5_000), eventKey),
  );
}

/** A comparison process (the peer) warmed up as the service is. */
export function warmUp(baseUrl: string, name: string): Promise<void> {
  return warmUpWith(baseUrl, name, (plan) => runLoad(name, plan, [baseUrl], scenario.connections));
}

/** The pino level of a log line (0 for a line that is not JSON). */
function levelOf(line: string): number {
  try {
    return Number((JSON.parse(line) as { level?: unknown }).level) || 0;
  } catch {
    return 0;
  }
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

/** A process of ours still running (after a failure): killed, so the next run finds its port free. */
function killIfRunning(process: Process): void {
  if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill();
}

export interface IssuanceTotals {
  batches: number;
  requests: number;
  issued: number;
  retries: number;
  fromMemory?: number;
  firstBatches?: Array<{ size: number; ms: number }>;
}

export interface Planned extends PlannedRequest {
  userId: number;
  kind: 'original' | 'retransmit-key' | 'retransmit-natural' | 'read';
}

/**
 * Originals in random order; each of `ratio` of the users is sent again somewhere after its original (often
 * while it runs): half with the same Idempotency-Key, half without. `targetOf` picks an instance for an
 * original and for its copy (another one, when there are several).
 */
export function stormPlan(
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

/** The same plan without a single Idempotency-Key (the keyed copies become natural retransmissions). */
export function withoutKeys(plan: Planned[]): Planned[] {
  return plan.map((request) => ({ ...request, headers: {} }));
}

export async function createEvent(
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

/** The tickets each user was answered with (200 or 201), over a storm. */
export function ticketsAnswered(plan: Planned[], results: LoadResults): Map<number, Set<string>> {
  const answered = new Map<number, Set<string>>();
  plan.forEach((request, index) => {
    const ticketId = results.ticketId[index];
    if (ticketId)
      answered.set(request.userId, (answered.get(request.userId) ?? new Set()).add(ticketId));
  });
  return answered;
}

/** Every invariant of a storm, checked in the database against what the clients were told. */
export async function checkInvariants(
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
  const answered = ticketsAnswered(plan, results);
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

/**
 * What a storm's ticket requests got, and its rates: tickets issued per second over the first wave (until
 * the last ticket), sold-out answers per second after it, and the whole storm's requests per second.
 */
export function issuanceRates(plan: Planned[], results: LoadResults) {
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
    requestsPerSecond: Math.round(plan.length / (results.durationMs / 1000)),
  };
}
