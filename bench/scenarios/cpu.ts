/**
 * CPU time per request, the budget: the service process's user + system CPU time (/proc/<pid>/stat) over a
 * phase of one request kind, divided by the phase's requests, after a warm-up, with the surge's client and
 * connections. Far steadier than throughput on a shared machine: what other processes take slows a phase
 * down but costs the service no CPU. Kinds:
 *
 * - `soldOut`: a sold-out event, without Idempotency-Key, a distinct user per request;
 * - `soldOutKeyed`: the same with a fresh key per request (each a new keyed refusal the service commits);
 * - `repeat`: the same requests again, same keys (each a replay of an answered key);
 * - `issued`: an event with a ticket for every request, distinct users, keyed like the surge's originals;
 * - `liveness`: `GET /health/live` of the service, through its whole pipeline;
 * - `bareRoute`: the HTTP ceiling's bare Fastify route (bench/http-ceiling-server.ts), same Node, same client;
 * - `peerSoldOut` and `peerIssued`: the peer (bench/peer-server.ts), its process and Redis's, when Redis answers.
 */
import Redis from 'ioredis';
import scenario from '../../loadtest/scenario.json';
import type { PlannedRequest } from '../load-client';
import {
  Options,
  SERVICE_PORT,
  SOLD_OUT,
  createEvent,
  freshDatabase,
  killIfRunning,
  localRedis,
  nodeOptions,
  serviceReady,
  serviceUrl,
  startService,
  stopService,
  warmUp,
} from '../service';
import { cpuTimeUs, peakRssMb, round2, runLoad, withCpu } from '../support';
import { ceilingPlan, ceilingUrl, startCeilingServer } from './ceilings';
import { deleteKeys, localRedisPid, peerUrl, startPeer } from './peer';

/** Requests per phase: the cheap kinds, and the issued one (each issues a ticket). */
export const CPU_PHASES = { cheap: 30_000, issued: 10_000 };
/** Unmeasured requests of each sold-out kind before the phases (the warm-up storm has few of them). */
const PRIMER = 2_000;
/** A phase ends this long after its last answer (idle costs ≈ 1 % of a core: ≈ 0.1 µs a request). */
const SETTLE_MS = 250;

interface Phase {
  /** µs of CPU per request: the measured process (for the peer: its process, then Redis's). */
  cpuUsPerRequest: number;
  redisCpuUsPerRequest?: number;
  requests: number;
  requestsPerSecond: number;
  /** Answers other than the kind's (they would make the figure another kind's). */
  unexpected: number;
  /** The measured process's peak RSS so far (VmHWM). */
  peakRssMb: number;
}

export type CpuRun = Awaited<ReturnType<typeof cpuRun>>;

export async function cpuRun(serverUrl: string, options: Options) {
  const service = await serviceKinds(await freshDatabase(serverUrl), options);
  const bareRoute = await bareRouteKind(options);
  const peer = await peerKinds(options);
  const phases: Record<string, Phase> = { ...service.phases, bareRoute, ...peer.phases };
  const bare = bareRoute.cpuUsPerRequest;
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
    servicePeakRssMb: service.peakRssMb,
    /** The service's issuance totals at shutdown (warm-up and primers included): how many were answered from memory. */
    serviceIssuanceTotals: service.totals,
    peerSkipped: peer.skipped,
  };
}

/** A phase: `plan` against `baseUrl`, the CPU `pids` used, and the answers that were not `expected`. */
async function phase(
  name: string,
  baseUrl: string,
  plan: PlannedRequest[],
  pids: number[],
  expected: (status: number, message: string | null) => boolean,
): Promise<Phase> {
  const { result, cpuUs } = await withCpu(pids, async () => {
    const results = await runLoad(`cpu-${name}`, plan, [baseUrl], scenario.connections);
    // What the phase left behind (asynchronous log writes, a last group commit) is the phase's cost.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return results;
  });
  return {
    cpuUsPerRequest: Math.round(cpuUs[0] / plan.length),
    ...(pids.length > 1 ? { redisCpuUsPerRequest: Math.round(cpuUs[1] / plan.length) } : {}),
    requests: plan.length,
    requestsPerSecond: Math.round(plan.length / (result.durationMs / 1000)),
    unexpected: result.status.filter((status, i) => !expected(status, result.message[i])).length,
    peakRssMb: peakRssMb(pids[0]),
  };
}

const soldOut = (status: number, message: string | null) => status === 409 && message === SOLD_OUT;

/** Ticket requests of users `from`…, one each, with a fresh key per request when `keyPrefix` is given. */
function ticketRequests(
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

/** An event of one ticket, issued: every later request of another user is a sold-out answer. */
async function soldOutEvent(baseUrl: string, name: string): Promise<string> {
  const eventKey = await createEvent(baseUrl, name, 1);
  await runLoad(`${name}-sell`, ticketRequests(eventKey, 1, 1), [baseUrl], 1);
  return eventKey;
}

async function serviceKinds(databaseUrl: string, options: Options) {
  const service = startService(SERVICE_PORT, { DATABASE_URL: databaseUrl }, nodeOptions(options));
  const baseUrl = serviceUrl(SERVICE_PORT);
  try {
    await serviceReady(baseUrl);
    await warmUp(baseUrl, 'cpu-warm-up');
    const pid = service.child.pid!;
    const eventKey = await soldOutEvent(baseUrl, 'cpu-sold-out');
    const n = CPU_PHASES.cheap;
    const keys = `${eventKey}-k`;
    for (const primer of [
      ticketRequests(eventKey, n + 2, PRIMER),
      ticketRequests(eventKey, n + 2, PRIMER, `${keys}-primer`),
      ticketRequests(eventKey, n + 2, PRIMER, `${keys}-primer`),
    ]) {
      await runLoad('cpu-primer', primer, [baseUrl], scenario.connections);
    }
    // What the service spends doing nothing (background queries, timers), to judge the phases' figures by.
    const idleBefore = cpuTimeUs(pid);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const idleCpuUsPerSecond = Math.round((cpuTimeUs(pid) - idleBefore) / 2);

    const keyed = ticketRequests(eventKey, 2, n, keys);
    const phases = {
      soldOut: await phase('sold-out', baseUrl, ticketRequests(eventKey, 2, n), [pid], soldOut),
      soldOutKeyed: await phase('sold-out-keyed', baseUrl, keyed, [pid], soldOut),
      repeat: await phase('repeat', baseUrl, keyed, [pid], soldOut),
      issued: await phase(
        'issued',
        baseUrl,
        ticketRequests(
          await createEvent(baseUrl, 'cpu-issued', CPU_PHASES.issued),
          1,
          CPU_PHASES.issued,
          'cpu-issued',
        ),
        [pid],
        (status) => status === 201,
      ),
      liveness: await phase(
        'liveness',
        baseUrl,
        Array.from({ length: n }, () => ({ method: 'GET', path: '/health/live' })),
        [pid],
        (status) => status === 200,
      ),
    };
    const peakRss = peakRssMb(pid);
    const totals = await stopService(service);
    return { phases, idleCpuUsPerSecond, peakRssMb: peakRss, totals };
  } finally {
    killIfRunning(service);
  }
}

async function bareRouteKind(options: Options): Promise<Phase> {
  const server = await startCeilingServer(nodeOptions(options));
  try {
    const pid = server.child.pid!;
    await runLoad('cpu-bare-warm-up', ceilingPlan(5_000), [ceilingUrl], scenario.connections);
    return await phase('bare-route', ceilingUrl, ceilingPlan(CPU_PHASES.cheap), [pid], soldOut);
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

async function peerKinds(
  options: Options,
): Promise<{ phases: Record<string, Phase>; skipped?: string }> {
  const redisUrl = await localRedis();
  if (!redisUrl) return { phases: {}, skipped: 'Redis does not answer' };
  const prefix = `golden-ticket-bench-peer-cpu-${process.pid}-${Date.now()}`;
  const redis = new Redis(redisUrl);
  const peer = await startPeer(redisUrl, prefix, nodeOptions(options));
  try {
    const pids = [peer.child.pid!, ...(await localRedisPid(redis, redisUrl))];
    await warmUp(peerUrl, 'cpu-peer-warm-up');
    const eventKey = await soldOutEvent(peerUrl, 'cpu-peer-sold-out');
    await runLoad(
      'cpu-peer-primer',
      ticketRequests(eventKey, CPU_PHASES.cheap + 2, PRIMER),
      [peerUrl],
      scenario.connections,
    );
    const issuedEvent = await createEvent(peerUrl, 'cpu-peer-issued', CPU_PHASES.issued);
    return {
      phases: {
        peerSoldOut: await phase(
          'peer-sold-out',
          peerUrl,
          ticketRequests(eventKey, 2, CPU_PHASES.cheap),
          pids,
          soldOut,
        ),
        peerIssued: await phase(
          'peer-issued',
          peerUrl,
          ticketRequests(issuedEvent, 1, CPU_PHASES.issued),
          pids,
          (status) => status === 201,
        ),
      },
    };
  } finally {
    peer.child.kill('SIGTERM');
    await peer.exited;
    await deleteKeys(redis, `${prefix}:*`);
    await redis.quit();
  }
}
