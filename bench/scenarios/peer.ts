/**
 * The comparison users would make: the same client and the same storm plan against the peer
 * (bench/peer-server.ts: a Fastify route and one Redis Lua script, no durability, no keys, no logs), back to
 * back with the service. Keyed: the surge's plan as it is (its Idempotency-Keys are headers the peer ignores).
 * Unkeyed: the same plan without a single key, against a service of its own on a fresh database. Skipped
 * with a note when Redis does not answer.
 */
import scenario from '../../loadtest/scenario.json';
import type { LoadResults } from '../load-client';
import {
  BenchService,
  Options,
  PEER_PORT,
  Planned,
  SCRIPTS,
  checkInvariants,
  createEvent,
  issuanceRates,
  startBenchRedis,
  nodeOptions,
  startBenchService,
  stormPlan,
  ticketsAnswered,
  warmUp,
  withoutKeys,
} from '../service';
import {
  NodeOptions,
  Process,
  countingLoad,
  noUnexplained,
  round2,
  startProcess,
  waitFor,
  withCpu,
} from '../support';

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
  const own = await startBenchRedis();
  if ('skipped' in own) {
    console.log(`peer skipped: ${own.skipped}`);
    return { skipped: own.skipped };
  }
  const redisUrl = own.url;
  const node = nodeOptions(options);
  const prefix = `golden-ticket-bench-peer-${process.pid}-${Date.now()}`;
  let service: BenchService | undefined;
  let peer: Process | undefined;
  try {
    peer = await startPeer(redisUrl, prefix, node);
    service = await startBenchService(serverUrl, {
      node,
      warmUp: { name: 'peer-service-warm-up' },
    });
    await warmUp(peerUrl, 'peer-warm-up');
    const peerPids = [peer.child.pid!, own.pid];
    const peerUnexplained = noUnexplained();
    const peerLoad = countingLoad([peerUrl], peerUnexplained);
    const onService = service;
    const serviceStorm = (name: string, planOf: (eventKey: string) => Planned[]) =>
      storm(onService.url, name, onService.pids, planOf, (plan) => onService.load(name, plan));
    const peerStorm = (name: string, planOf: (eventKey: string) => Planned[]) =>
      storm(peerUrl, name, peerPids, planOf, (plan) => peerLoad(name, plan, scenario.connections));

    const serviceKeyedStorm = keyed ? undefined : await serviceStorm('service-keyed', keyedPlan);
    const peerKeyed = await peerStorm('peer-keyed', keyedPlan);
    const serviceUnkeyed = await serviceStorm('service-unkeyed', unkeyedPlan);
    const peerUnkeyed = await peerStorm('peer-unkeyed', unkeyedPlan);

    await service.stop();
    const knex = service.knex;
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
      /** The service's (warm-up included) and the peer's storms: any 5xx but a 503 with Retry-After, any request without an answer. */
      unexplained: { service: service.unexplained, peer: peerUnexplained },
    };
  } finally {
    await service?.close();
    if (peer) {
      peer.child.kill('SIGTERM');
      await peer.exited;
    }
    await own.stop();
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

/** A storm of `plan` (made for the event created), sent by `load`, with its figures and its CPU per request on `pids`. */
async function storm(
  baseUrl: string,
  name: string,
  pids: number[],
  planOf: (eventKey: string) => Planned[],
  load: (plan: Planned[]) => Promise<LoadResults>,
) {
  const eventKey = await createEvent(baseUrl, name, scenario.tickets);
  const plan = planOf(eventKey);
  const { result: results, cpuUs } = await withCpu(pids, () => load(plan));
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

/** The peer's answers against its own promise: exactly the tickets there were, one per user, always the same. */
function peerProblems(plan: Planned[], results: LoadResults): string[] {
  const ticketOf = ticketsAnswered(plan, results);
  const problems: string[] = [];
  if (ticketOf.size !== scenario.tickets)
    problems.push(`peer: ${ticketOf.size} users got a ticket, expected ${scenario.tickets}`);
  const changed = [...ticketOf.values()].filter((ids) => ids.size !== 1).length;
  if (changed > 0) problems.push(`peer: ${changed} users were answered with different tickets`);
  const failed = results.status.filter((status) => status >= 500 || status < 0).length;
  if (failed > 0) problems.push(`peer: ${failed} failed requests`);
  return problems;
}
