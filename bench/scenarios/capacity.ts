/**
 * The capacity model's unit costs on this machine (docs/capacity.md), then its check against the scale-out
 * storms of 1, 2 and 3 instances run right after:
 *
 * - per request kind (cpu.ts's kinds, the service with the bench's Redis for its throttles, as scale-out runs
 *   it, and a second instance for the keyed copies it judges through the database): the service's CPU,
 *   Redis's CPU, PostgreSQL's CPU (every process of the server) and WAL bytes, and the load client's CPU;
 * - per event-view refresh: the query that re-reads the held events (EventsRepository.readWithDayCounts),
 *   for one event and for every held one;
 * - the key store: rows/s of the group commit's statement (IdempotencyRepository.insertAnswers) from as many
 *   connections as the pool, its CPU and WAL per row, its bytes on disk per row; then the purge of those rows
 *   once expired (IdempotencyPurger.purgeExpired, its sweep of DELETE statements) and the VACUUM that the
 *   deletes owe, and a sweep that finds nothing expired (what each purge interval costs while keys live);
 * - memory: the service's RSS growth per held event (read once each) and per remembered key (a fresh keyed
 *   refusal each).
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import scenario from '../../loadtest/scenario.json';
import { Clock } from '../../src/clock/clock';
import { loadConfig } from '../../src/config/config';
import { kstDay } from '../../src/common/time';
import { EventsRepository } from '../../src/events/events.repository';
import { IdempotencyPurger } from '../../src/idempotency/idempotency-purger';
import { claimTiming } from '../../src/idempotency/idempotency-rules';
import {
  IdempotencyRepository,
  toStoredResponse,
} from '../../src/idempotency/idempotency.repository';
import { PhaseCost, withDatabaseCost } from '../database-cost';
import type { PlannedRequest } from '../load-client';
import { checkModel, UnitCosts } from '../capacity-model';
import {
  BenchService,
  Options,
  POOL_MAX,
  SOLD_OUT,
  benchKnex,
  createEvent,
  nodeOptions,
  startBenchRedis,
} from '../service';
import { round2, withCpu } from '../support';
import {
  CPU_PHASES,
  Kind,
  PRIMER,
  serviceKinds,
  soldOut,
  soldOutEvent,
  ticketRequests,
} from './cpu';
import { scaleOutRun } from './scale-out';

export const CAPACITY = {
  /** Events created and read once each, for the memory of a held event. */
  heldEvents: 5_000,
  /** Fresh keyed refusals, for the memory of a remembered key (with the warm-up's, below IDEMPOTENCY_MEMORY_KEYS). */
  rememberedKeys: 20_000,
  /** Refresh queries, each kind. */
  refreshes: 1_000,
  /** Rows into the key store, in groups of `group` from POOL_MAX connections. */
  keyStoreRows: 100_000,
  group: 200,
  /** The same rows' fifth in groups of this size: what a statement costs beside its rows. */
  smallGroup: 10,
  /** The model's check: users of each scale-out storm (4 × the scenario's), whole storms before it. */
  check: { users: 24_000, warmUpStorms: 1 },
  /** The instances of the check's storms, each measured sharing the cores (sharedCoreCosts). */
  sharedCores: [1, 2, 3],
};

/**
 * The kinds whose unit costs the model takes: cpu.ts's (liveness aside), a keyed copy sent to another
 * instance than its original's (`copyElsewhere`: it does not remember the key, so its insert finds the
 * original's record and reads it back) and an event-page read.
 */
export const MODEL_KINDS = [
  'soldOut',
  'soldOutKeyed',
  'repeat',
  'copyElsewhere',
  'issued',
  'read',
] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export type CapacityRun = Awaited<ReturnType<typeof capacityRun>>;

export async function capacityRun(serverUrl: string, options: Options) {
  const redis = await startBenchRedis();
  const cleanup: Array<() => Promise<unknown>> = [];
  try {
    const own = 'url' in redis ? redis : undefined;
    if (own) cleanup.push(() => own.stop());
    const env = own ? { REDIS_URL: own.url, THROTTLE_KEY_PREFIX: `capacity-${Date.now()}` } : {};
    const { service, kinds } = await serviceKinds(
      serverUrl,
      nodeOptions(options),
      cleanup,
      env,
      Math.max(...CAPACITY.sharedCores),
    );
    const redisPids = own ? [own.pid] : [];
    await warmOtherInstances(service);
    // The fresh keys of each round's keyed phase again, on the second instance (measured there).
    kinds.copyElsewhere = {
      load: kinds.soldOut.load,
      pids: [service.pids[1]],
      plan: (round) => onInstance(kinds.soldOutKeyed.plan(round), 1),
      expected: soldOut,
    };
    // An event page, as users read it between their presses (answered from the held view).
    const readEvent = await createEvent(service.url, 'capacity-read', 100);
    kinds.read = {
      load: kinds.soldOut.load,
      pids: kinds.soldOut.pids,
      plan: () =>
        Array.from({ length: CPU_PHASES.cheap / CPU_PHASES.rounds }, () => ({
          method: 'GET',
          path: `/events/${readEvent}`,
        })),
      expected: (status) => status === 200,
    };
    // Each part printed as it is measured: a failure later keeps what was measured before it.
    // Remembered keys first, below IDEMPOTENCY_MEMORY_KEYS (past it the oldest go); held events last (while
    // held, the reads' refreshes re-read them all).
    const bytesPerRememberedKey = await rememberedKeyBytes(service);
    const perRequest = logged('per request', await requestCosts(service, kinds, redisPids));
    const sharedCores = logged('shared cores', await sharedCoreCosts(service));
    const issuedBatches = logged('issued, transactions counted', await issuedTransactions(service));
    const memory = logged('memory', {
      bytesPerHeldEvent: await heldEventBytes(service),
      bytesPerRememberedKey,
    });
    const refresh = logged('event-view refresh', await refreshCosts(service.knex));
    const keyStore = logged('key store', await keyStoreCosts(service.databaseUrl));
    await service.stop();
    for (const step of cleanup.splice(0).reverse()) await step();

    const units: UnitCosts = {
      perRequest,
      issuedBatches,
      refreshDatabaseCpuUs: refresh.oneEvent.databaseCpuUsPerRefresh,
      keyStore,
      memory,
      sharedCores,
    };
    // Warm like the measured service (thousands of requests each, a full pool), storms of seconds.
    const scaleOut = await scaleOutRun(serverUrl, options, CAPACITY.check);
    return {
      redis: own !== undefined,
      units,
      refresh,
      scaleOut,
      check: scaleOut.byInstances.map((storm) => checkModel(units, storm)),
    };
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

const onInstance = (plan: PlannedRequest[], target: number) =>
  plan.map((request) => ({ ...request, target }));

/**
 * The other instances as warm as the first (JIT, a full pool): fresh keyed refusals of their own, then, on
 * the second, copies of the first instance's.
 */
async function warmOtherInstances(service: BenchService) {
  const load = serviceLoad(service);
  const eventKey = await soldOutEvent(service.url, 'capacity-others', load);
  for (let target = 1; target < service.pids.length; target++) {
    const from = 2 + target * PRIMER;
    await load(
      `capacity-warm-${target}`,
      onInstance(ticketRequests(eventKey, from, PRIMER, `${eventKey}-${target}`), target),
    );
  }
  const originals = ticketRequests(eventKey, 2, PRIMER, `${eventKey}-originals`);
  await load('capacity-second-originals', originals);
  await load('capacity-second-copies', onInstance(originals, 1));
}

/** What n instances cost when they share this machine's cores (the model's check scales a storm by it). */
export interface SharedCoreCost {
  instances: number;
  /** The instances' CPU µs per request, all of them. */
  serviceCpuUs: number;
  /** PostgreSQL's CPU µs per request, and the writing transactions (group commits) it committed. */
  databaseCpuUs: number;
  transactions: number;
  clientCpuUs: number;
  requests: number;
}

/**
 * The same fresh keyed refusals spread over 1, 2 and 3 instances at once, interleaved over cpu.ts's rounds:
 * on two cores, busy instances, PostgreSQL and the load client take turns, and each turn costs (caches,
 * switches, fewer requests an event-loop turn), so a request costs more CPU the more processes share the
 * cores. The model prices one instance on a core of its own (a drop's fleet) and checks storms of several
 * on this machine, so it scales them by what this measures.
 */
async function sharedCoreCosts(service: BenchService): Promise<SharedCoreCost[]> {
  const load = serviceLoad(service);
  const eventKey = await soldOutEvent(service.url, 'capacity-shared', load);
  const count = CPU_PHASES.cheap / CPU_PHASES.rounds;
  const totals = CAPACITY.sharedCores.map((instances) => ({
    instances,
    service: 0,
    database: 0,
    transactions: 0,
    client: 0,
    requests: 0,
  }));
  let phase = 0;
  for (let round = 0; round < CPU_PHASES.rounds; round++) {
    for (const total of totals) {
      const { instances } = total;
      const from = 2 + phase++ * count;
      const plan = ticketRequests(eventKey, from, count, `${eventKey}-k`).map((request, i) => ({
        ...request,
        target: i % instances,
      }));
      const xidBefore = await nextTransactionId(service.knex);
      const {
        result: { cpuUs },
        cost,
      } = await withDatabaseCost(service.knex, () =>
        withCpu(service.pids.slice(0, instances), async () => {
          await load(`capacity-shared-${instances}`, plan);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }),
      );
      total.service += cpuUs.reduce((a, b) => a + b, 0);
      total.database += cost.databaseCpuUs;
      total.transactions += (await nextTransactionId(service.knex)) - xidBefore;
      total.client += cost.clientCpuUs;
      total.requests += plan.length;
    }
  }
  return totals.map((t) => ({
    instances: t.instances,
    serviceCpuUs: round2(t.service / t.requests),
    databaseCpuUs: round2(t.database / t.requests),
    transactions: t.transactions,
    clientCpuUs: round2(t.client / t.requests),
    requests: t.requests,
  }));
}

/** The next transaction id PostgreSQL will assign: the writing transactions between two readings. */
async function nextTransactionId(knex: Knex): Promise<number> {
  const { rows } = await knex.raw<{ rows: Array<{ next: string }> }>(
    'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS next',
  );
  return Number(rows[0].next);
}

function logged<T>(what: string, value: T): T {
  console.log(`capacity: ${what}: ${JSON.stringify(value)}`);
  return value;
}

/** What one request of a kind costs each process, over the rounds of cpu.ts (the kinds interleaved). */
export interface RequestCost {
  serviceCpuUs: number;
  redisCpuUs: number;
  databaseCpuUs: number;
  walBytes: number;
  clientCpuUs: number;
  requests: number;
}

/** Each kind's instance with Redis (`redisPids`, the bench's own). */
async function requestCosts(
  service: BenchService,
  kinds: Record<string, Kind>,
  redisPids: number[],
): Promise<Record<ModelKind, RequestCost>> {
  const totals = Object.fromEntries(
    MODEL_KINDS.map((name) => [name, { cpu: [0, 0], database: 0, wal: 0, client: 0, requests: 0 }]),
  );
  for (let round = 0; round < CPU_PHASES.rounds; round++) {
    for (const name of MODEL_KINDS) {
      const kind = kinds[name];
      const plan = kind.plan(round);
      const {
        result: { cpuUs },
        cost,
      } = await withDatabaseCost(service.knex, () =>
        withCpu([kind.pids[0], ...redisPids], async () => {
          await kind.load(`capacity-${name}`, plan, scenario.connections);
          // What the phase left behind (a last group commit, the WAL writer's flush) is the phase's cost.
          await new Promise((resolve) => setTimeout(resolve, 250));
        }),
      );
      const total = totals[name];
      cpuUs.forEach((us, i) => (total.cpu[i] += us));
      total.database += cost.databaseCpuUs;
      total.wal += cost.walBytes;
      total.client += cost.clientCpuUs;
      total.requests += plan.length;
    }
  }
  return Object.fromEntries(
    Object.entries(totals).map(([name, t]) => [
      name,
      {
        serviceCpuUs: Math.round(t.cpu[0] / t.requests),
        // A fraction of a µs: Redis's CPU in 10 ms ticks over tens of thousands of requests.
        redisCpuUs: Math.round((t.cpu[1] / t.requests) * 10) / 10,
        databaseCpuUs: Math.round(t.database / t.requests),
        walBytes: Math.round(t.wal / t.requests),
        clientCpuUs: Math.round(t.client / t.requests),
        requests: t.requests,
      },
    ]),
  ) as Record<ModelKind, RequestCost>;
}

/** Resident set size now (VmRSS), in bytes. */
function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** The service's RSS growth over `work`, after a pause for the garbage collector to catch up. */
async function rssGrowth(pid: number, work: () => Promise<unknown>): Promise<number> {
  const pause = () => new Promise((resolve) => setTimeout(resolve, 1_000));
  await pause();
  const before = rssBytes(pid);
  await work();
  await pause();
  return rssBytes(pid) - before;
}

/**
 * Tickets issued with the database's transactions counted (their batches, the keys' group commits): what a
 * ticket costs PostgreSQL beside its transactions. Its own phase, as the count waits for the statistics:
 * the pool is filled right before, so that the wait (below the pool's 30 s idle timeout) closes no
 * connection whose reopening the phase would pay.
 */
async function issuedTransactions(service: BenchService) {
  const load = serviceLoad(service);
  const tickets = CPU_PHASES.issued / CPU_PHASES.rounds;
  const filler = await createEvent(service.url, 'capacity-pool', tickets);
  await load('capacity-pool', ticketRequests(filler, 1, tickets, `${filler}-k`));
  const eventKey = await createEvent(service.url, 'capacity-batches', tickets);
  const { cost } = await withDatabaseCost(
    service.knex,
    () => load('capacity-batches', ticketRequests(eventKey, 1, tickets, `${eventKey}-k`)),
    { countTransactions: true },
  );
  return {
    requests: tickets,
    databaseCpuUs: cost.databaseCpuUs,
    transactions: cost.transactions ?? 0,
  };
}

function serviceLoad(service: BenchService) {
  return (name: string, plan: PlannedRequest[]) => service.load(name, plan, scenario.connections);
}

/** The service's RSS growth per event created and read once (its view held). */
async function heldEventBytes(service: BenchService): Promise<number> {
  const load = serviceLoad(service);
  const now = Date.now();
  const eventKeys = Array.from({ length: CAPACITY.heldEvents }, (_, i) => `held-${now}-${i}`);
  await load(
    'capacity-create-events',
    eventKeys.map((eventKey) => ({
      method: 'POST',
      path: '/events',
      body: {
        eventKey,
        name: '벤치마크 이벤트',
        totalQuantity: 100,
        dailyLimit: null,
        startAt: new Date(now - 60_000).toISOString(),
        endAt: new Date(now + 3_600_000).toISOString(),
      },
    })),
  );
  const growth = await rssGrowth(service.pids[0], () =>
    load(
      'capacity-held-events',
      eventKeys.map((eventKey) => ({ method: 'GET', path: `/events/${eventKey}` })),
    ),
  );
  return Math.round(growth / CAPACITY.heldEvents);
}

/** The service's RSS growth per key remembered (a fresh keyed refusal each). */
async function rememberedKeyBytes(service: BenchService): Promise<number> {
  const load = serviceLoad(service);
  const eventKey = await soldOutEvent(service.url, 'capacity-memory', load);
  const growth = await rssGrowth(service.pids[0], () =>
    load(
      'capacity-remembered-keys',
      ticketRequests(eventKey, 2, CAPACITY.rememberedKeys, `${eventKey}-mem`),
    ),
  );
  return Math.round(growth / CAPACITY.rememberedKeys);
}

/** The re-read of held events, as EventViewsCache sends it: one event, then every event of the database. */
async function refreshCosts(knex: Knex) {
  const repository = new EventsRepository();
  const ids = (await knex('events').pluck('id')) as number[];
  const day = kstDay(new Date());
  const measure = async (held: number[]) => {
    const { cost } = await withDatabaseCost(knex, async () => {
      // The held events only: GET /events' window (every event of the next minute) only while it is read.
      for (let i = 0; i < CAPACITY.refreshes; i++) {
        await repository.readWithDayCounts(knex, day, { ids: held });
      }
    });
    return {
      events: held.length,
      databaseCpuUsPerRefresh: Math.round(cost.databaseCpuUs / CAPACITY.refreshes),
      msPerRefresh: round2(cost.durationMs / CAPACITY.refreshes),
    };
  };
  return { oneEvent: await measure(ids.slice(0, 1)), heldEvents: await measure(ids) };
}

/** A fixed "now" for the purger: after every row the ceiling wrote has expired. */
class FixedClock extends Clock {
  constructor(private readonly at: Date) {
    super();
  }
  now(): Date {
    return this.at;
  }
}

export type KeyStoreCosts = Awaited<ReturnType<typeof keyStoreCosts>>;

/**
 * The key store alone: the group commit's inserts at its ceiling, then their purge and its VACUUM. Also
 * `npm run bench -- --only key-store`, on a database of its own (migrated here), to compare two versions of
 * the key store quickly.
 */
export async function keyStoreCosts(databaseUrl: string) {
  const knex = benchKnex(databaseUrl);
  // As many connections as the service's pool.
  const pool = benchKnex(databaseUrl, POOL_MAX);
  try {
    const config = loadConfig({
      DATABASE_URL: databaseUrl,
      NODE_ENV: 'production',
      ADMIN_AUTH: 'disabled',
    });
    const repository = new IdempotencyRepository();
    const response = toStoredResponse({
      status: 409,
      body: { statusCode: 409, error: 'Conflict', message: SOLD_OUT },
    });
    const at = new Date();
    let written = 0;
    let groupsWritten = 0;
    /** `rows` new keys as the group commit writes them, `size` to a statement, from POOL_MAX connections. */
    const insertRows = (rows: number, size: number) => {
      const groups = Array.from({ length: Math.ceil(rows / size) }, () => {
        // A group's answers share their moment, a millisecond after the group before (within a second).
        const timing = claimTiming(new Date(at.getTime() + groupsWritten++), config.idempotency);
        return Array.from({ length: size }, () => {
          const n = written++;
          return {
            // As apps send them: a random UUID a key, a SHA-256 a request.
            request: {
              key: randomUUID(),
              fingerprint: {
                method: 'POST',
                path: '/events/:eventKey/tickets',
                requestHash: createHash('sha256').update(`${at.getTime()}-${n}`).digest('hex'),
              },
            },
            response,
            timing,
          };
        });
      });
      return withDatabaseCost(knex, () =>
        Promise.all(
          Array.from({ length: POOL_MAX }, async () => {
            for (let group = groups.pop(); group; group = groups.pop())
              await repository.insertAnswers(pool, group);
          }),
        ),
      );
    };
    const sizeBefore = await tableBytes(knex);
    const { cost: insert } = await insertRows(CAPACITY.keyStoreRows, CAPACITY.group);
    const rows = CAPACITY.keyStoreRows;
    const bytesPerRow = Math.round(((await tableBytes(knex)) - sizeBefore) / rows);
    // The same rows in small groups: the difference is what a statement costs beside its rows.
    const smallRows = CAPACITY.keyStoreRows / 5;
    const { cost: small } = await insertRows(smallRows, CAPACITY.smallGroup);
    const perRowLarge = insert.databaseCpuUs / rows;
    const perRowSmall = small.databaseCpuUs / smallRows;
    const perStatement =
      (perRowSmall - perRowLarge) / (1 / CAPACITY.smallGroup - 1 / CAPACITY.group);
    // A sweep that finds nothing expired: what each purge interval costs while the keys live.
    const live = await keyCount(knex);
    const { cost: sweep } = await withDatabaseCost(knex, () =>
      new IdempotencyPurger(knex, config, new FixedClock(at), repository).purgeExpired(),
    );
    const expired = new Date(
      at.getTime() + groupsWritten + (config.idempotency.ttlSeconds + 1) * 1000,
    );
    const purger = new IdempotencyPurger(knex, config, new FixedClock(expired), repository);
    const { result: purged, cost: purge } = await withDatabaseCost(knex, () =>
      purger.purgeExpired(),
    );
    const { cost: vacuum } = await withDatabaseCost(knex, () =>
      knex.raw('VACUUM idempotency_keys'),
    );
    const perRow = (cost: PhaseCost, n: number) => ({
      rowsPerSecond: Math.round(n / (cost.durationMs / 1000)),
      databaseCpuUsPerRow: round2(cost.databaseCpuUs / n),
      walBytesPerRow: Math.round(cost.walBytes / n),
    });
    return {
      rows,
      insert: { ...perRow(insert, rows), diskBytesPerRow: bytesPerRow },
      smallGroups: perRow(small, smallRows),
      /** PostgreSQL's CPU per row beside its statement's, and per statement (a commit) beside its rows. */
      databaseCpuUsPerRowAlone: round2(perRowLarge - perStatement / CAPACITY.group),
      databaseCpuUsPerStatement: round2(perStatement),
      /** A sweep of the live keys (none expired), per key it passes; the sweeps that pass a key in its life. */
      sweepOfLiveKeys: { ...perRow(sweep, live), keys: live },
      sweepsPerLifetime: config.idempotency.ttlSeconds / config.idempotency.purgeIntervalSeconds,
      purge: { ...perRow(purge, purged), purged, batchSize: config.idempotency.purgeBatchSize },
      vacuumAfterPurge: perRow(vacuum, purged),
    };
  } finally {
    await pool.destroy();
    await knex.destroy();
  }
}

async function keyCount(knex: Knex): Promise<number> {
  const { rows } = await knex.raw<{ rows: Array<{ n: string }> }>(
    'SELECT count(*) AS n FROM idempotency_keys',
  );
  return Number(rows[0].n);
}

async function tableBytes(knex: Knex): Promise<number> {
  const { rows } = await knex.raw<{ rows: Array<{ bytes: string }> }>(
    "SELECT pg_total_relation_size('idempotency_keys')::bigint AS bytes",
  );
  return Number(rows[0].bytes);
}
