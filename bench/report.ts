/** The table printed at the end of a bench and bench/results/latest.json: medians over the runs. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import scenario from '../loadtest/scenario.json';
import { DROPS, TRAFFIC, UnitCosts, databaseUnits, sizeDrop } from './capacity-model';
import { CAPACITY, CapacityRun, KeyStoreCosts, MODEL_KINDS } from './scenarios/capacity';
import { CPU_PHASES, CpuRun } from './scenarios/cpu';
import { FairnessRun, reportFairness } from './scenarios/fairness';
import type { PeerRun } from './scenarios/peer';
import { READ_STORM, READS_PER_TICKET_REQUEST, ReadsRun } from './scenarios/reads';
import type { ScaleOutRun } from './scenarios/scale-out';
import type { SurgeRun } from './scenarios/surge';
import type { runMidnightScenario } from './scenarios/midnight';
import type { Options } from './service';
import { Unexplained, describeUnexplained, median, round2, sumUnexplained } from './support';

/** What the runs measured, scenario by scenario (empty when a scenario did not run). */
export interface Measured {
  surge: SurgeRun[];
  scaleOut: ScaleOutRun[];
  reads: ReadsRun[];
  cpu: CpuRun[];
  /** The peer's runs: the surge's, or `--only peer`'s. */
  peer: PeerRun[];
  fairness: FairnessRun[];
  capacity: CapacityRun[];
  /** `--only key-store`'s runs. */
  keyStore: KeyStoreCosts[];
  midnight?: Awaited<ReturnType<typeof runMidnightScenario>>;
}

export function report(
  options: Options,
  {
    surge: runs,
    scaleOut: scaleOutRuns,
    reads: readsRuns,
    cpu,
    peer,
    fairness,
    capacity,
    keyStore,
    midnight,
  }: Measured,
) {
  const rows: Array<[string, string]> = [];
  const output: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    /** The Node of the service, the ceiling server and the peer (`--node`); the load client runs on `node`. */
    serviceNode: options.serviceNode,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    runs: options.runs,
    scenario,
  };
  let invariantsOk = true;
  /** Each scenario's answers that no rule explains, summed over its runs: any one fails the bench. */
  const unexplained: Record<string, Unexplained> = {};
  const unexplainedRow = (scenarioName: string, parts: Unexplained[]): [string, string] => {
    unexplained[scenarioName] = sumUnexplained(parts);
    return [
      '  unexplained answers (5xx but 503 + Retry-After, no answer)',
      describeUnexplained(unexplained[scenarioName]),
    ];
  };

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
        noUnexplainedAnswers: runs.every(
          (r) => r.surge.unexplained.count + r.ceilings.http.unexplained.count === 0,
        ),
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
      unexplainedRow(
        'surge',
        runs.flatMap((r) => [r.surge.unexplained, r.ceilings.http.unexplained]),
      ),
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
        'service CPU / request over the surge',
        `${median(runs.map((r) => r.surge.serviceCpuUsPerRequest))} µs (runs: ${runs.map((r) => r.surge.serviceCpuUsPerRequest).join(', ')})`,
      ],
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
        unexplained: sumUnexplained(samples.map((s) => s.unexplained)),
        warnings: samples.flatMap((s) => s.warnings).slice(0, 20),
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
        noUnexplainedAnswers: scaleOut.byInstances.every((n) => n.unexplained.count === 0),
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
        `${n.requestsPerSecond} req/s (${n.throughputVsOne}×), 503s ${n.unavailable503}, unexplained ${n.unexplained.count}, retries ${n.serializationRetries}, batches ${n.batches}, invariants ${n.invariants ? 'ok' : `BROKEN: ${n.problems.join('; ')}`}`,
      ]),
      unexplainedRow(
        'scale-out',
        scaleOut.byInstances.map((n) => n.unexplained),
      ),
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
        noUnexplainedAnswers: readsRuns.every((r) => r.unexplained.count === 0),
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
      unexplainedRow(
        'reads',
        readsRuns.map((r) => r.unexplained),
      ),
    );
  }

  invariantsOk &&= reportPeer(peer, rows, output, unexplainedRow);
  reportCpu(cpu, rows, output, unexplainedRow);
  invariantsOk &&= reportFairness(fairness, rows, output);
  invariantsOk &&= reportCapacity(capacity, rows, output);
  reportKeyStore(keyStore, rows, output);

  const width = Math.max(...rows.map(([name]) => name.length));
  console.log('\nGolden Ticket benchmark');
  for (const [name, value] of rows) console.log(`  ${name.padEnd(width)}  ${value}`);
  if (output.targets) console.log('\ntargets:', JSON.stringify(output.targets));
  if (output.reads) {
    console.log('reads targets:', JSON.stringify((output.reads as { targets: unknown }).targets));
  }
  for (const key of ['peer', 'cpuPerRequest', 'fairness', 'capacity']) {
    const targets = (output[key] as { targets?: unknown } | undefined)?.targets;
    if (targets) console.log(`${key} targets:`, JSON.stringify(targets));
  }
  if (output.scaleOut) {
    console.log(
      'scale-out targets:',
      JSON.stringify((output.scaleOut as { targets: unknown }).targets),
    );
  }

  output.unexplainedAnswers = unexplained;
  const dir = join(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(output, null, 2)}\n`);
  console.log(`written: bench/results/latest.json`);
  if (!invariantsOk) {
    console.error('INVARIANT BROKEN');
    process.exitCode = 1;
  }
  const failed = Object.entries(unexplained).filter(([, u]) => u.count > 0);
  for (const [name, u] of failed) {
    console.error(`UNEXPLAINED ANSWERS in ${name}: ${describeUnexplained(u)}`);
  }
  if (failed.length > 0) process.exitCode = 1;
}

/** Sums a scenario's unexplained answers into the report's (and the exit code's) and makes its row. */
type UnexplainedRow = (scenarioName: string, parts: Unexplained[]) => [string, string];

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

const list = (values: number[]) => values.join(', ');

/** The peer's ratios (medians, and each run's); false when an invariant broke. */
function reportPeer(
  peerRuns: PeerRun[],
  rows: Array<[string, string]>,
  output: Record<string, unknown>,
  unexplainedRow: UnexplainedRow,
): boolean {
  if (peerRuns.length === 0) return true;
  const measured = peerRuns.filter(
    (run): run is Exclude<PeerRun, { skipped: string }> => !('skipped' in run),
  );
  if (measured.length === 0) {
    const skipped = (peerRuns[0] as { skipped: string }).skipped;
    output.peer = { skipped };
    rows.push(['peer (Fastify + Redis Lua)', `skipped: ${skipped}`]);
    return true;
  }
  type Ratios = (typeof measured)[number]['ratios'];
  const each = (key: keyof Ratios) => measured.map((run) => run.ratios[key]);
  const ratios = {
    keyedToPeer: median(each('keyedToPeer')),
    unkeyedToPeer: median(each('unkeyedToPeer')),
    keyedSoldOutToPeer: median(each('keyedSoldOutToPeer')),
    unkeyedSoldOutToPeer: median(each('unkeyedSoldOutToPeer')),
  };
  const ok = measured.every((run) => run.invariants.ok);
  output.peer = {
    ratios,
    perRun: measured,
    targets: {
      keyedAtLeast09Peer: ratios.keyedToPeer >= 0.9,
      unkeyedAtLeast09Peer: ratios.unkeyedToPeer >= 0.9,
      noUnexplainedAnswers: measured.every(
        (run) => run.unexplained.service.count + run.unexplained.peer.count === 0,
      ),
      invariants: ok,
    },
  };
  const rps = (pick: (run: (typeof measured)[number]) => number) => list(measured.map(pick));
  rows.push(
    [
      'peer: keyed surge req / s vs peer',
      `${ratios.keyedToPeer} × (runs: ${list(each('keyedToPeer'))}; service ${rps((r) => r.service.keyed.requestsPerSecond)} vs peer ${rps((r) => r.peer.keyed.requestsPerSecond)})`,
    ],
    [
      'peer: unkeyed surge req / s vs peer',
      `${ratios.unkeyedToPeer} × (runs: ${list(each('unkeyedToPeer'))}; service ${rps((r) => r.service.unkeyed.requestsPerSecond)} vs peer ${rps((r) => r.peer.unkeyed.requestsPerSecond)})`,
    ],
    [
      '  sold-out answers / s vs peer',
      `keyed ${ratios.keyedSoldOutToPeer} ×, unkeyed ${ratios.unkeyedSoldOutToPeer} × (runs: ${list(each('keyedSoldOutToPeer'))}; ${list(each('unkeyedSoldOutToPeer'))})`,
    ],
    [
      '  CPU / request in the storms (µs)',
      `service unkeyed ${rps((r) => r.service.unkeyed.cpuUsPerRequest[0])}; peer keyed ${rps((r) => r.peer.keyed.cpuUsPerRequest[0])} (+ Redis ${rps((r) => r.peer.keyed.cpuUsPerRequest[1] ?? 0)}), unkeyed ${rps((r) => r.peer.unkeyed.cpuUsPerRequest[0])} (+ Redis ${rps((r) => r.peer.unkeyed.cpuUsPerRequest[1] ?? 0)})`,
    ],
    [
      '  invariants (service in DB, peer by answers)',
      ok ? 'ok' : `BROKEN: ${measured.flatMap((r) => r.invariants.problems).join('; ')}`,
    ],
    unexplainedRow(
      'peer',
      measured.flatMap((run) => [run.unexplained.service, run.unexplained.peer]),
    ),
  );
  return ok;
}

const CPU_KINDS: Array<[string, string]> = [
  ['soldOut', 'sold out, no key'],
  ['soldOutKeyed', 'sold out, fresh key'],
  ['repeat', 'repeat (replayed key)'],
  ['issued', 'issued (keyed)'],
  ['liveness', 'GET /health/live'],
  ['bareRoute', 'bare Fastify route'],
  ['peerSoldOut', 'peer: sold out'],
  ['peerIssued', 'peer: issued'],
];

/** CPU per request by kind: medians of the runs, each run's, and the ratios to the bare route of the same run. */
function reportCpu(
  cpuRuns: CpuRun[],
  rows: Array<[string, string]>,
  output: Record<string, unknown>,
  unexplainedRow: UnexplainedRow,
) {
  if (cpuRuns.length === 0) return;
  const kinds = CPU_KINDS.filter(([kind]) => kind in cpuRuns[0].cpuUsPerRequest);
  const medianOf = (pick: (run: CpuRun) => number | undefined) =>
    median(cpuRuns.map(pick).filter((n): n is number => n !== undefined));
  const cpuUsPerRequest = Object.fromEntries(
    kinds.map(([kind]) => [kind, medianOf((run) => run.cpuUsPerRequest[kind])]),
  );
  const toBareRoute = Object.fromEntries(
    kinds
      .filter(([kind]) => kind !== 'bareRoute')
      .map(([kind]) => [kind, medianOf((run) => run.toBareRoute[kind])]),
  );
  output.cpuPerRequest = {
    unit: 'µs of CPU (user + system, /proc/<pid>/stat) per request',
    requestsPerPhase: CPU_PHASES,
    cpuUsPerRequest,
    toBareRoute,
    servicePeakRssMb: median(cpuRuns.map((run) => run.servicePeakRssMb)),
    perRun: cpuRuns,
    targets: {
      soldOutAtMost15BareRoute: toBareRoute.soldOut <= 1.5,
      soldOutKeyedAtMost17BareRoute: toBareRoute.soldOutKeyed <= 1.7,
      peakRssAtMost300Mb: cpuRuns.every((run) => run.servicePeakRssMb <= 300),
      noUnexplainedAnswers: cpuRuns.every((run) => run.unexplained.count === 0),
    },
  };
  rows.push(
    [
      `CPU / request (µs, median of ${cpuRuns.length})`,
      `× bare route (runs: µs; ×) — ${CPU_PHASES.cheap} requests a kind (${CPU_PHASES.issued} issued) in ${CPU_PHASES.rounds} rounds`,
    ],
    ...kinds.map(([kind, label]): [string, string] => {
      const perRun = cpuRuns.map((run) => run.cpuUsPerRequest[kind]);
      const ratios = cpuRuns.map((run) => run.toBareRoute[kind]);
      const redis = cpuRuns.map((run) => run.phases[kind]?.redisCpuUsPerRequest);
      return [
        `  ${label}`,
        `${cpuUsPerRequest[kind]} µs${kind === 'bareRoute' ? '' : `  ${toBareRoute[kind]} ×`}  (runs: ${list(perRun)}${kind === 'bareRoute' ? '' : `; ${list(ratios)}`})${redis[0] !== undefined ? `  + Redis ${list(redis as number[])} µs` : ''}`,
      ];
    }),
    [
      '  service: peak RSS · idle CPU · unexpected answers',
      `${list(cpuRuns.map((run) => run.servicePeakRssMb))} MB · ${list(cpuRuns.map((run) => run.serviceIdleCpuUsPerSecond))} µs/s · ${list(cpuRuns.map((run) => Object.values(run.phases).reduce((sum, phase) => sum + phase.unexpected, 0)))}`,
    ],
  );
  rows.push(
    unexplainedRow(
      'cpu',
      cpuRuns.map((run) => run.unexplained),
    ),
  );
  if (cpuRuns[0].peerSkipped) rows.push(['  peer', `skipped: ${cpuRuns[0].peerSkipped}`]);
}

/** The median of each number over values of one shape (the runs' unit costs). */
function medianOfShape<T>(values: T[]): T {
  const [first] = values;
  if (typeof first === 'number') return median(values as number[]) as T;
  if (first === null || typeof first !== 'object') return first;
  if (Array.isArray(first)) {
    return first.map((_, i) => medianOfShape(values.map((value) => (value as unknown[])[i]))) as T;
  }
  return Object.fromEntries(
    Object.keys(first).map((key) => [
      key,
      medianOfShape(values.map((value) => (value as Record<string, unknown>)[key])),
    ]),
  ) as T;
}

/** The capacity model: unit costs (medians of the runs), its check against each run's storms, the drops. */
function reportCapacity(
  runs: CapacityRun[],
  rows: Array<[string, string]>,
  output: Record<string, unknown>,
): boolean {
  if (runs.length === 0) return true;
  const units: UnitCosts = medianOfShape(runs.map((run) => run.units));
  const checks = runs.flatMap((run) => run.check);
  const transactionsPerInstanceSecond = median(
    checks.map((check) => check.transactionsPerInstanceSecond),
  );
  const drops = DROPS.map((users) => sizeDrop(units, users, transactionsPerInstanceSecond));
  const invariants = runs.every((run) =>
    run.scaleOut.byInstances.every((storm) => storm.invariants.ok && storm.unexplained.count === 0),
  );
  output.capacity = {
    units,
    traffic: TRAFFIC,
    database: databaseUnits(units),
    transactionsPerInstanceSecond,
    drops,
    perRun: runs,
    targets: {
      modelWithin20Percent: checks.every((check) => check.within20Percent),
      invariants,
    },
  };
  rows.push(
    [
      `capacity: unit costs (median of ${runs.length})`,
      'service µs · Redis µs · PostgreSQL µs · WAL B · client µs per request',
    ],
    ...MODEL_KINDS.map((kind): [string, string] => {
      const c = units.perRequest[kind];
      return [
        `  ${kind}`,
        `${c.serviceCpuUs} · ${c.redisCpuUs} · ${c.databaseCpuUs} · ${c.walBytes} · ${c.clientCpuUs}  (${c.requests} requests)`,
      ];
    }),
    [
      '  event-view refresh (PostgreSQL µs)',
      runs
        .map(
          (r) =>
            `${r.refresh.oneEvent.databaseCpuUsPerRefresh} (1 event), ${r.refresh.heldEvents.databaseCpuUsPerRefresh} (${r.refresh.heldEvents.events} events)`,
        )
        .join('; '),
    ],
    keyStoreRow(units.keyStore),
    databaseUnitsRow(units),
    purgeRow(units.keyStore),
    [
      '  sharing the cores: 1 · 2 · 3 instances at once',
      units.sharedCores
        .map(
          (c) =>
            `${c.serviceCpuUs} µs service, ${c.databaseCpuUs} µs PostgreSQL (${c.transactions} transactions), ${c.clientCpuUs} µs client`,
        )
        .join(' · '),
    ],
    [
      '  memory per held event · per remembered key',
      `${units.memory.bytesPerHeldEvent} B · ${units.memory.bytesPerRememberedKey} B`,
    ],
    [
      'capacity: model vs scale-out (predicted ÷ measured)',
      "instances: rps predicted/measured (bound, neighbours' cores) · PostgreSQL CPU · WAL · service CPU [sharing: service, PostgreSQL, client]",
    ],
    ...checks.map((c): [string, string] => [
      `  ${c.instances} instance${c.instances > 1 ? 's' : ''}`,
      `${c.predictedRps}/${c.measuredRps} = ${c.checks.throughput} (${c.bound}, ${c.neighbourCores}) · ${c.checks.databaseCpu} (${c.transactions}) · ${c.checks.wal} · ${c.checks.serviceCpu} [${c.sharing.service}, ${c.sharing.database}, ${c.sharing.client}]  ${c.within20Percent ? 'within ±20 %' : 'OUTSIDE ±20 %'}`,
    ]),
    [
      'capacity: drops (opening minute)',
      `peak req/s · instances · transactions/s (${transactionsPerInstanceSecond} an instance) · DB cores (key rows' share) · WAL MB/s · Redis cores · key rows/s ÷ ceiling · key disk MB · purge s (the sweeps' CPU s a day)`,
    ],
    ...drops.map((d): [string, string] => [
      `  ${d.users.toLocaleString('en')} users`,
      `${d.peakRequestsPerSecond} · ${d.instances} · ${d.transactionsPerSecond} · ${d.databaseCores} (${d.keyStoreShareOfDatabase}) · ${d.walMbPerSecond} · ${d.redisCores} · ${d.keyRowsToCeiling} · ${d.keyStoreDiskMb} · ${d.purgeSeconds} (${d.sweepsDatabaseCpuSeconds})`,
    ]),
  );
  if (!invariants) rows.push(['  scale-out invariants', 'BROKEN']);
  return invariants;
}

function databaseUnitsRow(units: UnitCosts): [string, string] {
  const { row, copy, ticket, transaction } = databaseUnits(units);
  const small = units.keyStore.smallGroups;
  return [
    `  PostgreSQL µs: a key row (the service's) · a copy judged by it · a ticket beside it · a transaction`,
    `${round2(row)} · ${round2(copy)} · ${round2(ticket)} · ${transaction}  (statements of ${CAPACITY.smallGroup} rows: ${small.databaseCpuUsPerRow} µs a row, ${small.rowsPerSecond} rows/s)`,
  ];
}

function keyStoreRow({ rows, insert }: KeyStoreCosts): [string, string] {
  return [
    `  key store: ${rows} rows in groups of ${CAPACITY.group}`,
    `${insert.rowsPerSecond} rows/s · ${insert.databaseCpuUsPerRow} µs · ${insert.walBytesPerRow} B WAL · ${insert.diskBytesPerRow} B on disk per row`,
  ];
}

function purgeRow({ purge, vacuumAfterPurge, sweepOfLiveKeys }: KeyStoreCosts): [string, string] {
  return [
    '  purge (a sweep of DELETEs) · VACUUM after it · a sweep of live keys',
    `${purge.rowsPerSecond} rows/s, ${purge.databaseCpuUsPerRow} µs, ${purge.walBytesPerRow} B WAL per row · ${vacuumAfterPurge.rowsPerSecond} rows/s, ${vacuumAfterPurge.databaseCpuUsPerRow} µs, ${vacuumAfterPurge.walBytesPerRow} B WAL per row · ${sweepOfLiveKeys.rowsPerSecond} keys/s, ${sweepOfLiveKeys.databaseCpuUsPerRow} µs per key`,
  ];
}

/** `--only key-store`: the key store's costs, medians of the runs, and each run's row cost. */
function reportKeyStore(
  runs: KeyStoreCosts[],
  rows: Array<[string, string]>,
  output: Record<string, unknown>,
): void {
  if (runs.length === 0) return;
  const costs: KeyStoreCosts = medianOfShape(runs);
  output.keyStore = { ...costs, perRun: runs };
  rows.push(
    [`key store (median of ${runs.length})`, 'PostgreSQL alone, a database of its own'],
    keyStoreRow(costs),
    [
      '  each run: µs · B WAL a row',
      runs.map((r) => `${r.insert.databaseCpuUsPerRow} · ${r.insert.walBytesPerRow}`).join('; '),
    ],
    [
      `  statements of ${CAPACITY.smallGroup} rows · a statement beside its rows`,
      `${costs.smallGroups.databaseCpuUsPerRow} µs a row, ${costs.smallGroups.rowsPerSecond} rows/s · ${costs.databaseCpuUsPerStatement} µs`,
    ],
    purgeRow(costs),
  );
}
