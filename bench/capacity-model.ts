/**
 * The capacity model of docs/capacity.md: unit costs measured by the capacity scenario turned into what a
 * drop needs, and checked against the scale-out storms run on this machine.
 */
import { availableParallelism } from 'node:os';
import type { KeyStoreCosts, ModelKind, RequestCost, SharedCoreCost } from './scenarios/capacity';
import type { ScaleOutRun } from './scenarios/scale-out';
import { round2 } from './support';

export interface UnitCosts {
  perRequest: Record<ModelKind, RequestCost>;
  /** Tickets issued in a phase of their own with the database's transactions counted. */
  issuedBatches: { requests: number; databaseCpuUs: number; transactions: number };
  /** PostgreSQL's CPU per event-view refresh of a drop's instance (its one event re-read), µs. */
  refreshDatabaseCpuUs: number;
  keyStore: KeyStoreCosts;
  memory: { bytesPerHeldEvent: number; bytesPerRememberedKey: number };
  /** The same requests on 1, 2 and 3 instances at once, sharing this machine's cores. */
  sharedCores: SharedCoreCost[];
}

type Storm = ScaleOutRun['byInstances'][number];
type Mix = Storm['mix'];

/**
 * What each kind of a storm's requests costs, as a kind measured alone: a keyed copy is replayed from memory
 * by one instance (its original's); on several, it lands on another, which judges it through the database
 * (its insert finds the original's record and reads it back). An unkeyed copy answered with the user's
 * ticket costs what an issue does (it goes through a batch).
 */
function unitOf(kind: keyof Mix, instances: number): ModelKind {
  if (kind === 'issued' || kind === 'unkeyedTicket') return 'issued';
  if (kind === 'keyedRefusal') return 'soldOutKeyed';
  if (kind === 'keyedCopy') return instances === 1 ? 'repeat' : 'copyElsewhere';
  return 'soldOut';
}

type Resource = keyof Omit<RequestCost, 'requests'>;

function predictedTotal(units: UnitCosts, mix: Mix, instances: number, resource: Resource): number {
  return (Object.keys(mix) as Array<keyof Mix>).reduce(
    (sum, kind) => sum + mix[kind] * units.perRequest[unitOf(kind, instances)][resource],
    0,
  );
}

/**
 * PostgreSQL's CPU as rows and transactions: a transaction (a group commit's statement or an issuance
 * batch) beside its rows, from the key store's own measurement; a key row as the service writes it (its
 * fresh keyed refusals on one instance, less their writing transactions, counted), else the key store's
 * alone; a copy judged by the database (a key row plus what a copy costs beyond a fresh key in the same
 * group commits: the conflict and the read-back); a ticket beside its key row (a phase of tickets, less
 * its key rows and its transactions).
 */
export function databaseUnits(units: UnitCosts) {
  const { databaseCpuUsPerStatement: transaction } = units.keyStore;
  const alone = units.sharedCores.find((cost) => cost.instances === 1);
  const row = alone
    ? alone.databaseCpuUs - (alone.transactions * transaction) / alone.requests
    : units.keyStore.databaseCpuUsPerRowAlone;
  const { copyElsewhere, soldOutKeyed } = units.perRequest;
  const copy = row + Math.max(0, copyElsewhere.databaseCpuUs - soldOutKeyed.databaseCpuUs);
  const issued = units.issuedBatches;
  const ticket = (issued.databaseCpuUs - issued.transactions * transaction) / issued.requests - row;
  return { row, copy, ticket, transaction };
}

/** PostgreSQL's CPU for a storm: its key rows, its tickets, its transactions (as counted). */
function predictedDatabaseCpuUs(units: UnitCosts, storm: Storm): number {
  const { row, copy, ticket, transaction } = databaseUnits(units);
  const { mix, instances } = storm;
  // A keyed copy on another instance than its original's is judged by the database (an insert that finds it).
  const copies = instances > 1 ? mix.keyedCopy : 0;
  return (
    (mix.issued + mix.keyedRefusal) * row +
    copies * copy +
    mix.issued * ticket +
    (storm.cost.transactions ?? 0) * transaction
  );
}

/**
 * How much more CPU a request costs when `instances` share this machine's cores than when one runs (1 for
 * one): the instances' and the load client's CPU as measured, PostgreSQL's beyond what its rows and its
 * writing transactions (counted) cost by the units, so that more, smaller group commits are not counted twice.
 */
export function sharingFactors(units: UnitCosts, instances: number) {
  const { row, transaction } = databaseUnits(units);
  const at = (n: number) => units.sharedCores.find((cost) => cost.instances === n);
  const shared = at(instances);
  const alone = at(1);
  if (!shared || !alone) return { service: 1, database: 1, client: 1 };
  const databaseExcess = (cost: SharedCoreCost) =>
    (cost.databaseCpuUs * cost.requests) / (cost.requests * row + cost.transactions * transaction);
  return {
    service: shared.serviceCpuUs / alone.serviceCpuUs,
    database: databaseExcess(shared) / databaseExcess(alone),
    client: shared.clientCpuUs / alone.clientCpuUs,
  };
}

/**
 * The model's prediction for one scale-out storm against what it measured. Throughput is bounded by each
 * instance (one event loop: at most one core, `instances` × 10⁶ / its µs per request) and by the machine
 * (the cores the neighbours left, measured over the storm, shared by everything a request costs: the
 * instances, Redis, PostgreSQL, the load client). PostgreSQL's CPU is predicted from the storm's rows and
 * its transactions as counted (the one figure taken from the storm itself, with the neighbours' cores).
 * Each CPU figure is scaled by what sharing the cores with as many instances costs (sharingFactors).
 */
export function checkModel(units: UnitCosts, storm: Storm) {
  const { instances, requests, cost } = storm;
  const sharing = sharingFactors(units, instances);
  const scale: Partial<Record<Resource, number>> = {
    serviceCpuUs: sharing.service,
    clientCpuUs: sharing.client,
  };
  const total = (resource: Resource) =>
    predictedTotal(units, storm.mix, instances, resource) * (scale[resource] ?? 1);
  const perRequest = (resource: Resource) => total(resource) / requests;
  const databaseCpuUs = predictedDatabaseCpuUs(units, storm) * sharing.database;
  const ours =
    cost.serviceCpuUs + cost.redisCpuUs + cost.databaseCpuUs + cost.clientCpuUs + cost.benchCpuUs;
  const neighbourCores = Math.max(0, (cost.machineBusyUs - ours) / (cost.durationMs * 1000));
  const freeCores = availableParallelism() - neighbourCores;
  const everything =
    perRequest('serviceCpuUs') +
    perRequest('redisCpuUs') +
    databaseCpuUs / requests +
    perRequest('clientCpuUs');
  const instanceBound = (instances * 1e6) / perRequest('serviceCpuUs');
  const machineBound = (freeCores * 1e6) / everything;
  const predictedRps = Math.round(Math.min(instanceBound, machineBound));
  const ratio = (predicted: number, measured: number) => round2(predicted / measured);
  const checks = {
    throughput: ratio(predictedRps, storm.requestsPerSecond),
    databaseCpu: ratio(databaseCpuUs, cost.databaseCpuUs),
    wal: ratio(total('walBytes'), cost.walBytes),
    serviceCpu: ratio(total('serviceCpuUs'), cost.serviceCpuUs),
  };
  return {
    instances,
    bound: instanceBound < machineBound ? 'instances' : 'machine',
    neighbourCores: round2(neighbourCores),
    sharing: {
      service: round2(sharing.service),
      database: round2(sharing.database),
      client: round2(sharing.client),
    },
    predictedRps,
    measuredRps: storm.requestsPerSecond,
    transactions: cost.transactions,
    /** The storm's transactions per second and instance (group commits and batches), for the drops' model. */
    transactionsPerInstanceSecond: Math.round(
      (cost.transactions ?? 0) / (cost.loadDurationMs / 1000) / instances,
    ),
    predictedDatabaseCpuUs: Math.round(databaseCpuUs),
    measuredDatabaseCpuUs: Math.round(cost.databaseCpuUs),
    predictedWalBytes: Math.round(total('walBytes')),
    measuredWalBytes: cost.walBytes,
    predictedServiceCpuUs: Math.round(total('serviceCpuUs')),
    measuredServiceCpuUs: Math.round(cost.serviceCpuUs),
    /** Predicted ÷ measured. */
    checks,
    within20Percent: Object.values(checks).every((r) => r >= 0.8 && r <= 1.2),
  };
}

/**
 * The traffic of a drop's opening minute (docs/capacity.md, "Traffic model"): every user presses a few
 * times, a mobile network resends some presses, an app sends a key with each press (its resends reuse it),
 * a browser without one, and users read the event page between presses. The busiest second carries
 * `peakToMean` times the minute's mean.
 */
export const TRAFFIC = {
  pressesPerUser: 3,
  resendsPerPress: 0.5,
  keyedShare: 0.7,
  readsPerPress: 2,
  peakToMean: 3,
  tickets: 10_000,
};

/** Sizing targets: a process or a server planned at this share of what it can do. */
const PLANNED_UTILISATION = 0.7;
/** Event-view refreshes per second per instance while its events are read (REREAD_AFTER_MS = 500). */
const REFRESHES_PER_SECOND = 2;

/**
 * What a drop of `users` needs in its busiest second, and the day's key records. `transactionsPerInstanceSecond`:
 * the group commits and batches an instance runs a second in a storm (measured by the model's check).
 */
export function sizeDrop(units: UnitCosts, users: number, transactionsPerInstanceSecond: number) {
  const t = TRAFFIC;
  const presses = users * t.pressesPerUser;
  const issued = Math.min(t.tickets, users);
  const perMinute: Record<ModelKind, number> = {
    issued,
    // Each keyed press is one key record: a ticket or a refusal, committed before it is answered.
    soldOutKeyed: presses * t.keyedShare - issued * t.keyedShare,
    repeat: 0,
    // A keyed resend reaches another instance than its press's in a fleet: the database judges it.
    copyElsewhere: presses * t.keyedShare * t.resendsPerPress,
    soldOut: presses * (1 - t.keyedShare) * (1 + t.resendsPerPress) - issued * (1 - t.keyedShare),
    read: presses * t.readsPerPress,
  };
  const peak = (n: number) => (n / 60) * t.peakToMean;
  const sum = (resource: Resource) =>
    (Object.keys(perMinute) as ModelKind[]).reduce(
      (total, kind) => total + peak(perMinute[kind]) * units.perRequest[kind][resource],
      0,
    );
  const requestsInMinute = Object.values(perMinute).reduce((a, b) => a + b, 0);
  const serviceCores = sum('serviceCpuUs') / 1e6;
  const instances = Math.max(1, Math.ceil(serviceCores / PLANNED_UTILISATION));
  const keyRows = presses * t.keyedShare;
  const keyRowsPeakPerSecond = peak(keyRows);
  const database = databaseUnits(units);
  // Keyed resends judged by the database (another instance than their press's) cost it a copy each.
  const keyStoreCpuUs =
    peak(keyRows) * database.row + peak(perMinute.copyElsewhere) * database.copy;
  const transactionsPerSecond = instances * transactionsPerInstanceSecond;
  const databaseCpuUs =
    keyStoreCpuUs +
    peak(issued) * database.ticket +
    transactionsPerSecond * database.transaction +
    instances * REFRESHES_PER_SECOND * units.refreshDatabaseCpuUs;
  const databaseCores = databaseCpuUs / 1e6;
  const { insert, purge, vacuumAfterPurge } = units.keyStore;
  const keyStoreCores = keyStoreCpuUs / 1e6;
  return {
    users,
    requestsPerMinute: Math.round(requestsInMinute),
    peakRequestsPerSecond: Math.round(peak(requestsInMinute)),
    instances,
    serviceCores: round2(serviceCores),
    databaseCores: round2(databaseCores / PLANNED_UTILISATION),
    transactionsPerSecond: Math.round(transactionsPerSecond),
    /** Of the database's CPU in the busiest second, the key records' rows. */
    keyStoreShareOfDatabase: round2(keyStoreCores / databaseCores),
    walMbPerSecond: round2(sum('walBytes') / 1e6),
    redisCores: round2(sum('redisCpuUs') / 1e6),
    keyRows: Math.round(keyRows),
    keyRowsPeakPerSecond: Math.round(keyRowsPeakPerSecond),
    /** The busiest second's key rows against this machine's key store ceiling (the group commit's statement). */
    keyRowsToCeiling: round2(keyRowsPeakPerSecond / insert.rowsPerSecond),
    keyStoreDiskMb: Math.round((keyRows * insert.diskBytesPerRow) / 1e6),
    /** The day's purge of those rows (DELETE in batches, then VACUUM): seconds on this machine, WAL. */
    purgeSeconds: Math.round(
      keyRows / purge.rowsPerSecond + keyRows / vacuumAfterPurge.rowsPerSecond,
    ),
    purgeDatabaseCpuSeconds: round2(
      (keyRows * (purge.databaseCpuUsPerRow + vacuumAfterPurge.databaseCpuUsPerRow)) / 1e6,
    ),
    purgeWalMb: Math.round(
      (keyRows * (purge.walBytesPerRow + vacuumAfterPurge.walBytesPerRow)) / 1e6,
    ),
    /** The sweeps that pass those rows while they live: one a purge interval, the fleet's. */
    sweepsDatabaseCpuSeconds: round2(
      (keyRows *
        units.keyStore.sweepOfLiveKeys.databaseCpuUsPerRow *
        units.keyStore.sweepsPerLifetime) /
        1e6,
    ),
  };
}

export const DROPS = [100_000, 1_000_000, 10_000_000];
