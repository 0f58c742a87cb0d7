/** Scale out: the same kind of storm over 1, 2, 3 instances on one database. */
import scenario from '../../loadtest/scenario.json';
import {
  SERVICE_PORT,
  benchKnex,
  checkInvariants,
  createEvent,
  freshDatabase,
  killIfRunning,
  localRedis,
  nodeOptions,
  Options,
  serviceReady,
  serviceUrl,
  startService,
  stopService,
  stormPlan,
} from '../service';
import { runLoad } from '../support';

export type ScaleOutRun = Awaited<ReturnType<typeof scaleOutRun>>;

export async function scaleOutRun(serverUrl: string, options: Options) {
  const redisUrl = await localRedis();
  const byInstances: Array<Awaited<ReturnType<typeof scaleOutStorm>>> = [];
  for (const instances of scenario.scaleOut.instances) {
    byInstances.push(
      await scaleOutStorm(await freshDatabase(serverUrl), instances, options, redisUrl),
    );
  }
  return { redis: redisUrl !== undefined, byInstances };
}

async function scaleOutStorm(
  databaseUrl: string,
  instances: number,
  options: Options,
  redisUrl?: string,
) {
  const { users, tickets, connections, retransmitRatio } = scenario.scaleOut;
  const ports = Array.from({ length: instances }, (_, i) => SERVICE_PORT + 10 + i);
  const baseUrls = ports.map(serviceUrl);
  const env = {
    DATABASE_URL: databaseUrl,
    ...(redisUrl ? { REDIS_URL: redisUrl, THROTTLE_KEY_PREFIX: `bench-${Date.now()}` } : {}),
  };
  // Started together on an empty database: they migrate once between them.
  const services = ports.map((port) => startService(port, env, nodeOptions(options)));
  const knex = benchKnex(databaseUrl);
  try {
    await Promise.all(baseUrls.map(serviceReady));
    // Random instance for each original; a copy always lands on another instance than its original.
    const instanceOf = (userId: number) => ((userId * 2_654_435_761) % 2 ** 32) % instances;
    const targetOf = (userId: number, copy: boolean) =>
      copy ? (instanceOf(userId) + 1) % instances : instanceOf(userId);
    const warmUpKey = await createEvent(baseUrls[0], 'scale-warm-up', tickets);
    await runLoad(
      'scale-warm-up',
      stormPlan(warmUpKey, users, retransmitRatio, targetOf).slice(0, 2_000),
      baseUrls,
      connections,
    );
    const eventKey = await createEvent(baseUrls[0], 'scale-out', tickets);
    const plan = stormPlan(eventKey, users, retransmitRatio, targetOf);
    const results = await runLoad(`scale-out-${instances}`, plan, baseUrls, connections);
    const totals = await Promise.all(services.map(stopService));
    const invariants = await checkInvariants(knex, eventKey, tickets, plan, results);
    return {
      instances,
      requests: plan.length,
      requestsPerSecond: Math.round(plan.length / (results.durationMs / 1000)),
      unavailable503: results.status.filter((status) => status === 503).length,
      otherServerErrors: results.status.filter((s) => (s >= 500 && s !== 503) || s < 0).length,
      serializationRetries: totals.reduce((sum, t) => sum + t.retries, 0),
      batches: totals.reduce((sum, t) => sum + t.batches, 0),
      invariants,
    };
  } finally {
    services.forEach(killIfRunning);
    await knex.destroy();
  }
}
