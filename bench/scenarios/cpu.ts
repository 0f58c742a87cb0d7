/**
 * CPU time per request, the budget: the service process's user + system CPU time (/proc/<pid>/stat) over a
 * phase of one request kind, divided by the phase's requests, after a warm-up, with the surge's client and
 * connections. Far steadier than throughput on a shared machine: what other processes take slows a phase
 * down but costs the service little CPU. Still, a busy neighbour makes every instruction dearer (shared
 * caches and cores), so the kinds are measured in rounds — each round one phase of every kind, the service,
 * the bare route and the peer all up — and a kind's figure is its total over the rounds: the ratios compare
 * phases seconds apart, not minutes. Kinds:
 *
 * - `soldOut`: a sold-out event, without Idempotency-Key, a distinct user per request;
 * - `soldOutKeyed`: the same with a fresh key per request (each a new keyed refusal the service commits);
 * - `repeat`: the same requests again, same keys (each a replay of an answered key);
 * - `issued`: an event with a ticket for every request, distinct users, keyed like the surge's originals;
 * - `liveness`: `GET /health/live` of the service, through its whole pipeline;
 * - `bareRoute`: the HTTP ceiling's bare Fastify route (bench/http-ceiling-server.ts), same Node, same client;
 * - `peerSoldOut` and `peerIssued`: the peer (bench/peer-server.ts), its process and Redis's, when Redis answers.
 */
import scenario from '../../loadtest/scenario.json';
import type { LoadResults, PlannedRequest } from '../load-client';
import {
  BenchService,
  Options,
  SOLD_OUT,
  createEvent,
  startBenchRedis,
  nodeOptions,
  startBenchService,
  warmUp,
} from '../service';
import {
  NodeOptions,
  Unexplained,
  countingLoad,
  cpuTimeUs,
  noUnexplained,
  peakRssMb,
  round2,
  sumUnexplained,
  withCpu,
} from '../support';
import { ceilingPlan, ceilingUrl, startCeilingServer } from './ceilings';
import { peerUrl, startPeer } from './peer';

/** Requests of each kind over the rounds: the cheap kinds, and the issued one (each issues a ticket). */
export const CPU_PHASES = { cheap: 30_000, issued: 9_000, rounds: 3 };
/** Unmeasured requests of each sold-out kind before the rounds (the warm-up storm has few of them). */
export const PRIMER = 2_000;
/** A phase ends this long after its last answer (idle costs ≈ 1 % of a core: ≈ 0.1 µs a request). */
const SETTLE_MS = 250;

/** Sends a plan to one process, counting what no rule explains (BenchService.load, countingLoad). */
export type Load = (
  name: string,
  plan: PlannedRequest[],
  connections: number,
) => Promise<LoadResults>;

/** One kind of request against one process, round after round. */
export interface Kind {
  load: Load;
  /** The measured process, then (for the peer) Redis's. */
  pids: number[];
  /** The phase of round `round` (0-based). */
  plan: (round: number) => PlannedRequest[];
  expected: (status: number, message: string | null) => boolean;
}

interface Phase {
  /** µs of CPU per request: the measured process (for the peer: its process, then Redis's). */
  cpuUsPerRequest: number;
  redisCpuUsPerRequest?: number;
  /** Each round's µs per request. */
  rounds: number[];
  requests: number;
  requestsPerSecond: number;
  /** Answers other than the kind's (they would make the figure another kind's). */
  unexpected: number;
  /** The measured process's peak RSS at the end (VmHWM). */
  peakRssMb: number;
}

export type CpuRun = Awaited<ReturnType<typeof cpuRun>>;

export async function cpuRun(serverUrl: string, options: Options) {
  const node = nodeOptions(options);
  const cleanup: Array<() => Promise<unknown>> = [];
  try {
    const service = await serviceKinds(serverUrl, nodeOptions(options, true), cleanup);
    // The bare route's and the peer's answers that no rule explains.
    const others = noUnexplained();
    const kinds: Record<string, Kind> = {
      ...service.kinds,
      bareRoute: await bareRouteKind(node, cleanup, others),
      ...(await peerKinds(node, cleanup, others)),
    };
    const phases = await measureInRounds(kinds);
    const [serviceTotals] = await service.service.stop();
    const bare = phases.bareRoute.cpuUsPerRequest;
    return {
      cpuUsPerRequest: Object.fromEntries(
        Object.entries(phases).map(([kind, phase]) => [kind, phase.cpuUsPerRequest]),
      ),
      toBareRoute: Object.fromEntries(
        Object.entries(phases)
          .filter(([kind]) => kind !== 'bareRoute')
          .map(([kind, phase]) => [kind, round2(phase.cpuUsPerRequest / bare)]),
      ),
      phases,
      serviceIdleCpuUsPerSecond: service.idleCpuUsPerSecond,
      servicePeakRssMb: phases.soldOut.peakRssMb,
      /** The service's issuance totals at shutdown (warm-up and primers included): how many were answered from memory. */
      serviceIssuanceTotals: serviceTotals,
      peerSkipped: 'peerSoldOut' in kinds ? undefined : 'Redis does not answer',
      /** Warm-up, primers and phases: any 5xx but a 503 with Retry-After, any request without an answer. */
      unexplained: sumUnexplained([service.service.unexplained, others]),
    };
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

/** Every kind once a round, in the same order; a kind's figures are its totals over the rounds. */
async function measureInRounds(kinds: Record<string, Kind>): Promise<Record<string, Phase>> {
  const totals = Object.fromEntries(
    Object.keys(kinds).map((name) => [
      name,
      { cpuUs: [0, 0], requests: 0, durationMs: 0, unexpected: 0, rounds: [] as number[] },
    ]),
  );
  for (let round = 0; round < CPU_PHASES.rounds; round++) {
    for (const [name, kind] of Object.entries(kinds)) {
      const plan = kind.plan(round);
      const { result, cpuUs } = await withCpu(kind.pids, async () => {
        const results = await kind.load(`cpu-${name}`, plan, scenario.connections);
        // What the phase left behind (asynchronous log writes, a last group commit) is the phase's cost.
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        return results;
      });
      const total = totals[name];
      cpuUs.forEach((us, i) => (total.cpuUs[i] += us));
      total.requests += plan.length;
      total.durationMs += result.durationMs;
      total.unexpected += result.status.filter(
        (status, i) => !kind.expected(status, result.message[i]),
      ).length;
      total.rounds.push(Math.round(cpuUs[0] / plan.length));
    }
  }
  return Object.fromEntries(
    Object.entries(totals).map(([name, total]): [string, Phase] => [
      name,
      {
        cpuUsPerRequest: Math.round(total.cpuUs[0] / total.requests),
        ...(kinds[name].pids.length > 1
          ? { redisCpuUsPerRequest: Math.round(total.cpuUs[1] / total.requests) }
          : {}),
        rounds: total.rounds,
        requests: total.requests,
        requestsPerSecond: Math.round(total.requests / (total.durationMs / 1000)),
        unexpected: total.unexpected,
        peakRssMb: peakRssMb(kinds[name].pids[0]),
      },
    ]),
  );
}

export const soldOut = (status: number, message: string | null) =>
  status === 409 && message === SOLD_OUT;
const issued = (status: number) => status === 201;

/** Ticket requests of users `from`…, one each, with a fresh key per request when `keyPrefix` is given. */
export function ticketRequests(
  eventKey: string,
  from: number,
  count: number,
  keyPrefix?: string,
): PlannedRequest[] {
  return Array.from({ length: count }, (_, i): PlannedRequest => ({
    method: 'POST',
    path: `/events/${eventKey}/tickets`,
    body: { userId: from + i },
    headers: keyPrefix ? { 'idempotency-key': `${keyPrefix}-${from + i}` } : {},
  }));
}

/** Round `round`'s share of `total` requests to users of their own (from 2: user 1 holds the sold-out ticket). */
export function roundRequests(eventKey: string, total: number, round: number, keyPrefix?: string) {
  const count = Math.round(total / CPU_PHASES.rounds);
  return ticketRequests(eventKey, 2 + round * count, count, keyPrefix);
}

/** An event of one ticket, issued: every later request of another user is a sold-out answer. */
export async function soldOutEvent(baseUrl: string, name: string, load: Load): Promise<string> {
  const eventKey = await createEvent(baseUrl, name, 1);
  await load(`${name}-sell`, ticketRequests(eventKey, 1, 1), 1);
  return eventKey;
}

/**
 * The service (with `env`; `instances` processes on its database, the kinds on the first), warmed up and
 * primed, with its kinds; how much CPU it spends idle.
 */
export async function serviceKinds(
  serverUrl: string,
  node: NodeOptions,
  cleanup: Array<() => Promise<unknown>>,
  env: NodeJS.ProcessEnv = {},
  instances = 1,
) {
  const service: BenchService = await startBenchService(serverUrl, {
    node,
    env,
    instances,
    warmUp: { name: 'cpu-warm-up' },
  });
  cleanup.push(() => service.close());
  const baseUrl = service.url;
  const load: Load = (name, plan, connections) => service.load(name, plan, connections);
  const [pid] = service.pids;
  const eventKey = await soldOutEvent(baseUrl, 'cpu-sold-out', load);
  const issuedEvent = await createEvent(baseUrl, 'cpu-issued', CPU_PHASES.issued);
  const keys = `${eventKey}-k`;
  const primerUsers = CPU_PHASES.cheap + 2;
  for (const primer of [
    ticketRequests(eventKey, primerUsers, PRIMER),
    ticketRequests(eventKey, primerUsers, PRIMER, `${keys}-primer`),
    ticketRequests(eventKey, primerUsers, PRIMER, `${keys}-primer`),
  ]) {
    await load('cpu-primer', primer, scenario.connections);
  }
  // What the service spends doing nothing (background queries, timers), to judge the phases' figures by.
  const idleBefore = cpuTimeUs(pid);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const idleCpuUsPerSecond = Math.round((cpuTimeUs(pid) - idleBefore) / 2);
  const kind = (plan: Kind['plan'], expected: Kind['expected']): Kind => ({
    load,
    pids: [pid],
    plan,
    expected,
  });
  const kinds: Record<string, Kind> = {
    soldOut: kind((r) => roundRequests(eventKey, CPU_PHASES.cheap, r), soldOut),
    soldOutKeyed: kind((r) => roundRequests(eventKey, CPU_PHASES.cheap, r, keys), soldOut),
    // The keyed phase's requests again: every one a replay of the answer its key holds.
    repeat: kind((r) => roundRequests(eventKey, CPU_PHASES.cheap, r, keys), soldOut),
    issued: kind((r) => roundRequests(issuedEvent, CPU_PHASES.issued, r, 'cpu-issued'), issued),
    liveness: kind(
      () =>
        Array.from({ length: CPU_PHASES.cheap / CPU_PHASES.rounds }, () => ({
          method: 'GET',
          path: '/health/live',
        })),
      (status) => status === 200,
    ),
  };
  return { service, kinds, idleCpuUsPerSecond };
}

async function bareRouteKind(
  node: NodeOptions,
  cleanup: Array<() => Promise<unknown>>,
  unexplained: Unexplained,
): Promise<Kind> {
  const server = await startCeilingServer(node);
  cleanup.push(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });
  const load = countingLoad([ceilingUrl], unexplained);
  await load('cpu-bare-warm-up', ceilingPlan(5_000), scenario.connections);
  return {
    load,
    pids: [server.child.pid!],
    plan: () => ceilingPlan(CPU_PHASES.cheap / CPU_PHASES.rounds),
    expected: soldOut,
  };
}

/** The peer's sold-out and issued kinds, measured on its process and Redis's; none without Redis. */
async function peerKinds(
  node: NodeOptions,
  cleanup: Array<() => Promise<unknown>>,
  unexplained: Unexplained,
): Promise<Record<string, Kind>> {
  const own = await startBenchRedis();
  if ('skipped' in own) return {};
  cleanup.push(() => own.stop());
  const prefix = `golden-ticket-bench-peer-cpu-${process.pid}-${Date.now()}`;
  const peer = await startPeer(own.url, prefix, node);
  cleanup.push(async () => {
    peer.child.kill('SIGTERM');
    await peer.exited;
  });
  const pids = [peer.child.pid!, own.pid];
  await warmUp(peerUrl, 'cpu-peer-warm-up');
  const load = countingLoad([peerUrl], unexplained);
  const eventKey = await soldOutEvent(peerUrl, 'cpu-peer-sold-out', load);
  const issuedEvent = await createEvent(peerUrl, 'cpu-peer-issued', CPU_PHASES.issued);
  await load(
    'cpu-peer-primer',
    ticketRequests(eventKey, CPU_PHASES.cheap + 2, PRIMER),
    scenario.connections,
  );
  return {
    peerSoldOut: {
      load,
      pids,
      plan: (r) => roundRequests(eventKey, CPU_PHASES.cheap, r),
      expected: soldOut,
    },
    peerIssued: {
      load,
      pids,
      plan: (r) => roundRequests(issuedEvent, CPU_PHASES.issued, r),
      expected: issued,
    },
  };
}
