/** Scale out: the same kind of storm over 1, 2, 3 instances on one database. */
import scenario from '../../loadtest/scenario.json';
import {
  Options,
  SERVICE_PORT,
  checkInvariants,
  createEvent,
  startBenchRedis,
  nodeOptions,
  startBenchService,
  stormPlan,
} from '../service';

export type ScaleOutRun = Awaited<ReturnType<typeof scaleOutRun>>;

export async function scaleOutRun(serverUrl: string, options: Options) {
  // One budget across the instances, through a Redis of the bench's own.
  const redis = await startBenchRedis();
  const redisUrl = 'url' in redis ? redis.url : undefined;
  const byInstances: Array<Awaited<ReturnType<typeof scaleOutStorm>>> = [];
  try {
    for (const instances of scenario.scaleOut.instances) {
      byInstances.push(await scaleOutStorm(serverUrl, instances, options, redisUrl));
    }
  } finally {
    if ('url' in redis) await redis.stop();
  }
  return { redis: redisUrl !== undefined, byInstances };
}

async function scaleOutStorm(
  serverUrl: string,
  instances: number,
  options: Options,
  redisUrl?: string,
) {
  const { users, tickets, connections, retransmitRatio } = scenario.scaleOut;
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
    const warmUpKey = await createEvent(service.url, 'scale-warm-up', tickets);
    await service.load(
      'scale-warm-up',
      stormPlan(warmUpKey, users, retransmitRatio, targetOf).slice(0, 2_000),
      connections,
    );
    const eventKey = await createEvent(service.url, 'scale-out', tickets);
    const plan = stormPlan(eventKey, users, retransmitRatio, targetOf);
    const results = await service.load(`scale-out-${instances}`, plan, connections);
    const totals = await service.stop();
    const invariants = await checkInvariants(service.knex, eventKey, tickets, plan, results);
    return {
      instances,
      requests: plan.length,
      requestsPerSecond: Math.round(plan.length / (results.durationMs / 1000)),
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
