/** Scale out: the same kind of storm over 1, 2, 3 instances on one database. */
import scenario from '../../loadtest/scenario.json';
import { withDatabaseCost } from '../database-cost';
import type { LoadResults } from '../load-client';
import {
  Options,
  Planned,
  SERVICE_PORT,
  checkInvariants,
  createEvent,
  startBenchRedis,
  nodeOptions,
  startBenchService,
  stormPlan,
} from '../service';
import { withCpu } from '../support';

export type ScaleOutRun = Awaited<ReturnType<typeof scaleOutRun>>;

/**
 * The scenario's own run (no `check`), or the capacity model's check: its `users` per storm (longer storms
 * than the scenario's, steadier CPU figures), `warmUpStorms` whole storms first, each on an event of its
 * own, so that every instance is as warm (JIT, a full pool of connections) as one measured alone (the
 * scenario warms up with the first 2,000 requests of one), and the storm's transactions counted.
 */
export async function scaleOutRun(
  serverUrl: string,
  options: Options,
  check?: { users: number; warmUpStorms: number },
) {
  // One budget across the instances, through a Redis of the bench's own.
  const redis = await startBenchRedis();
  const own = 'url' in redis ? redis : undefined;
  const byInstances: Array<Awaited<ReturnType<typeof scaleOutStorm>>> = [];
  try {
    for (const instances of scenario.scaleOut.instances) {
      byInstances.push(await scaleOutStorm(serverUrl, instances, options, check, own));
    }
  } finally {
    if (own) await own.stop();
  }
  return { redis: own !== undefined, byInstances };
}

/**
 * The storm's requests by what they cost (the capacity model's kinds): originals issued or refused sold
 * out (each keyed), keyed copies, and unkeyed copies refused or answered with the user's ticket.
 */
export function requestMix(plan: Planned[], results: LoadResults) {
  const mix = { issued: 0, keyedRefusal: 0, keyedCopy: 0, unkeyedRefusal: 0, unkeyedTicket: 0 };
  plan.forEach((request, i) => {
    const answered = results.status[i] === 200 || results.status[i] === 201;
    if (request.kind === 'original') mix[answered ? 'issued' : 'keyedRefusal']++;
    else if (request.kind === 'retransmit-key') mix.keyedCopy++;
    else mix[answered ? 'unkeyedTicket' : 'unkeyedRefusal']++;
  });
  return mix;
}

async function scaleOutStorm(
  serverUrl: string,
  instances: number,
  options: Options,
  check: { users: number; warmUpStorms: number } | undefined,
  redis?: { url: string; pid: number },
) {
  const redisUrl = redis?.url;
  const { tickets, connections, retransmitRatio } = scenario.scaleOut;
  const users = check?.users ?? scenario.scaleOut.users;
  const warmUpStorms = check?.warmUpStorms ?? 0;
  // Started together on an empty database: they migrate once between them.
  const service = await startBenchService(serverUrl, {
    node: nodeOptions(options),
    instances,
    firstPort: SERVICE_PORT + 10,
    env: redisUrl ? { REDIS_URL: redisUrl, THROTTLE_KEY_PREFIX: `bench-${Date.now()}` } : {},
  });
  try {
    // Random instance for each original; a copy always lands on another instance than its original.
    const instanceOf = (userId: number) => ((userId * 2_654_435_761) % 2 ** 32) % instances;
    const targetOf = (userId: number, copy: boolean) =>
      copy ? (instanceOf(userId) + 1) % instances : instanceOf(userId);
    for (let storm = 0; storm < Math.max(1, warmUpStorms); storm++) {
      const warmUpKey = await createEvent(service.url, `scale-warm-up-${storm}`, tickets);
      const warmUp = stormPlan(warmUpKey, users, retransmitRatio, targetOf);
      await service.load(
        'scale-warm-up',
        warmUpStorms > 0 ? warmUp : warmUp.slice(0, 2_000),
        connections,
      );
    }
    const eventKey = await createEvent(service.url, 'scale-out', tickets);
    const plan = stormPlan(eventKey, users, retransmitRatio, targetOf);
    // What the storm cost every process: the instances, Redis, PostgreSQL, the load client (the model's check).
    const {
      result: { result: results, cpuUs },
      cost,
    } = await withDatabaseCost(
      service.knex,
      () =>
        withCpu([...service.pids, ...(redis ? [redis.pid] : [])], () =>
          service.load(`scale-out-${instances}`, plan, connections),
        ),
      // The capacity model's check counts the storm's transactions (22 s of waiting for statistics).
      { countTransactions: check !== undefined },
    );
    const totals = await service.stop();
    const invariants = await checkInvariants(service.knex, eventKey, tickets, plan, results);
    return {
      instances,
      requests: plan.length,
      requestsPerSecond: Math.round(plan.length / (results.durationMs / 1000)),
      mix: requestMix(plan, results),
      cost: {
        ...cost,
        loadDurationMs: results.durationMs,
        serviceCpuUs: cpuUs.slice(0, instances).reduce((sum, us) => sum + us, 0),
        redisCpuUs: redis ? cpuUs[instances] : 0,
      },
      unavailable503: results.status.filter((status) => status === 503).length,
      /** Warm-up included: any 5xx but a 503 with Retry-After, any request without an answer. */
      unexplained: service.unexplained,
      /** What the instances logged at warn or above (the first 20), when some answers are unexplained. */
      warnings: service.unexplained.count > 0 ? service.warnings().slice(0, 20) : [],
      serializationRetries: totals.reduce((sum, t) => sum + t.retries, 0),
      batches: totals.reduce((sum, t) => sum + t.batches, 0),
      invariants,
    };
  } finally {
    await service.close();
  }
}
