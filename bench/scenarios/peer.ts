/**
 * The comparison users would make: the same client and the same storm plan against the peer
 * (bench/peer-server.ts: a Fastify route and one Redis Lua script, no durability, no keys, no logs), back to
 * back with the service. Keyed: the surge's plan as it is (its Idempotency-Keys are headers the peer ignores).
 * Unkeyed: the same plan without a single key, against a service of its own on a fresh database. Skipped
 * with a note when Redis does not answer.
 */
import { readFileSync } from 'node:fs';
import Redis from 'ioredis';
import scenario from '../../loadtest/scenario.json';
import type { LoadResults } from '../load-client';
import {
  Options,
  PEER_PORT,
  Planned,
  SCRIPTS,
  SERVICE_PORT,
  benchKnex,
  checkInvariants,
  createEvent,
  freshDatabase,
  issuanceRates,
  killIfRunning,
  localRedis,
  nodeOptions,
  serviceReady,
  serviceUrl,
  startService,
  stopService,
  stormPlan,
  warmUp,
  withoutKeys,
} from '../service';
import { NodeOptions, Process, round2, runLoad, startProcess, waitFor, withCpu } from '../support';

export const peerUrl = `http://127.0.0.1:${PEER_PORT}`;

/** The figures of one storm, for the service and the peer alike. */
interface StormFigures {
  requestsPerSecond: number;
  rejectedAnswersPerSecond: number;
  issuedTicketsPerSecond: number;
}

export type PeerRun = Awaited<ReturnType<typeof peerRun>>;

/**
 * `keyed`: the service's figures of the surge just run (the normal, keyed plan); without them (`--only peer`)
 * the service runs the keyed plan too. The service and the peer are both up, warmed up, and each storm of the
 * service is followed by the peer's of the same plan: service keyed (or the surge), peer keyed, service
 * unkeyed, peer unkeyed.
 */
export async function peerRun(serverUrl: string, options: Options, keyed?: StormFigures) {
  const redisUrl = await localRedis();
  if (!redisUrl) {
    const skipped = `Redis does not answer at ${process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'}`;
    console.log(`peer skipped: ${skipped}`);
    return { skipped };
  }
  const databaseUrl = await freshDatabase(serverUrl);
  const node = nodeOptions(options);
  const prefix = `golden-ticket-bench-peer-${process.pid}-${Date.now()}`;
  const redis = new Redis(redisUrl);
  const service = startService(SERVICE_PORT, { DATABASE_URL: databaseUrl }, node);
  const knex = benchKnex(databaseUrl);
  let peer: Process | undefined;
  try {
    peer = await startPeer(redisUrl, prefix, node);
    const baseUrl = serviceUrl(SERVICE_PORT);
    await serviceReady(baseUrl);
    await warmUp(baseUrl, 'peer-service-warm-up');
    await warmUp(peerUrl, 'peer-warm-up');
    const servicePids = [service.child.pid!];
    const peerPids = [peer.child.pid!, ...(await localRedisPid(redis, redisUrl))];

    const serviceKeyedStorm = keyed
      ? undefined
      : await storm(baseUrl, 'service-keyed', servicePids, keyedPlan);
    const peerKeyed = await storm(peerUrl, 'peer-keyed', peerPids, keyedPlan);
    const serviceUnkeyed = await storm(baseUrl, 'service-unkeyed', servicePids, unkeyedPlan);
    const peerUnkeyed = await storm(peerUrl, 'peer-unkeyed', peerPids, unkeyedPlan);

    await stopService(service);
    const serviceInvariants = await Promise.all(
      [serviceUnkeyed, ...(serviceKeyedStorm ? [serviceKeyedStorm] : [])].map((s) =>
        checkInvariants(knex, s.eventKey, scenario.tickets, s.plan, s.results),
      ),
    );
    const peerInvariants = [peerKeyed, peerUnkeyed].flatMap((s) => peerProblems(s.plan, s.results));
    const serviceKeyed = keyed ?? serviceKeyedStorm!.figures;
    const ratio = (service: number, peer: number) => round2(service / peer);
    return {
      ratios: {
        keyedToPeer: ratio(serviceKeyed.requestsPerSecond, peerKeyed.figures.requestsPerSecond),
        unkeyedToPeer: ratio(
          serviceUnkeyed.figures.requestsPerSecond,
          peerUnkeyed.figures.requestsPerSecond,
        ),
        keyedSoldOutToPeer: ratio(
          serviceKeyed.rejectedAnswersPerSecond,
          peerKeyed.figures.rejectedAnswersPerSecond,
        ),
        unkeyedSoldOutToPeer: ratio(
          serviceUnkeyed.figures.rejectedAnswersPerSecond,
          peerUnkeyed.figures.rejectedAnswersPerSecond,
        ),
      },
      service: { keyed: figures(serviceKeyed), unkeyed: serviceUnkeyed.figures },
      peer: {
        keyed: peerKeyed.figures,
        unkeyed: peerUnkeyed.figures,
        /** cpuUsPerRequest: the peer's process, then Redis's when it runs on this machine. */
        redisCpuMeasured: peerPids.length > 1,
      },
      invariants: {
        ok: serviceInvariants.every((i) => i.ok) && peerInvariants.length === 0,
        problems: [...serviceInvariants.flatMap((i) => i.problems), ...peerInvariants],
      },
    };
  } finally {
    killIfRunning(service);
    if (peer) {
      peer.child.kill('SIGTERM');
      await peer.exited;
    }
    await deleteKeys(redis, `${prefix}:*`);
    await redis.quit();
    await knex.destroy();
  }
}

const figures = ({
  requestsPerSecond,
  rejectedAnswersPerSecond,
  issuedTicketsPerSecond,
}: StormFigures): StormFigures => ({
  requestsPerSecond,
  rejectedAnswersPerSecond,
  issuedTicketsPerSecond,
});

/** A storm of `plan` (made for the event created) with its figures, and its CPU per request on `pids`. */
async function storm(
  baseUrl: string,
  name: string,
  pids: number[],
  planOf: (eventKey: string) => Planned[],
) {
  const eventKey = await createEvent(baseUrl, name, scenario.tickets);
  const plan = planOf(eventKey);
  const { result: results, cpuUs } = await withCpu(pids, () =>
    runLoad(name, plan, [baseUrl], scenario.connections),
  );
  const rates = issuanceRates(plan, results);
  return {
    eventKey,
    plan,
    results,
    figures: {
      requestsPerSecond: rates.requestsPerSecond,
      rejectedAnswersPerSecond: rates.rejectedPerSecond,
      issuedTicketsPerSecond: rates.issuedPerSecond,
      serverErrors: results.status.filter((status) => status >= 500 || status < 0).length,
      cpuUsPerRequest: cpuUs.map((us) => Math.round(us / plan.length)),
    },
  };
}

const keyedPlan = (eventKey: string) =>
  stormPlan(eventKey, scenario.users, scenario.retransmitRatio);
const unkeyedPlan = (eventKey: string) => withoutKeys(keyedPlan(eventKey));

export async function startPeer(
  redisUrl: string,
  prefix: string,
  node: NodeOptions,
): Promise<Process> {
  const peer = startProcess(SCRIPTS.peer, [String(PEER_PORT), redisUrl, prefix], {}, node);
  await waitFor(() => Promise.resolve(peer.lines.includes('ready')), 10_000, 'the peer');
  return peer;
}

/** Redis's own process when it runs here (its CPU is the peer's other half). */
export async function localRedisPid(redis: Redis, redisUrl: string): Promise<number[]> {
  const host = new URL(redisUrl).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost') return [];
  const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('redis') ? [pid] : [];
  } catch {
    return [];
  }
}

export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** The peer's answers against its own promise: exactly the tickets there were, one per user, always the same. */
function peerProblems(plan: Planned[], results: LoadResults): string[] {
  const ticketOf = new Map<number, Set<string>>();
  plan.forEach((request, index) => {
    const ticketId = results.ticketId[index];
    if (ticketId)
      ticketOf.set(request.userId, (ticketOf.get(request.userId) ?? new Set()).add(ticketId));
  });
  const problems: string[] = [];
  if (ticketOf.size !== scenario.tickets)
    problems.push(`peer: ${ticketOf.size} users got a ticket, expected ${scenario.tickets}`);
  const changed = [...ticketOf.values()].filter((ids) => ids.size !== 1).length;
  if (changed > 0) problems.push(`peer: ${changed} users were answered with different tickets`);
  const failed = results.status.filter((status) => status >= 500 || status < 0).length;
  if (failed > 0) problems.push(`peer: ${failed} failed requests`);
  return problems;
}
