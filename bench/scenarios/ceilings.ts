/**
 * This machine's ceilings, measured in the same run as what is compared with them: the HTTP ceiling (a bare
 * Fastify route returning a fixed JSON body, same client, same connections) and the database ceiling (as many
 * direct pg clients as the service's pool, each doing one durable insert per ticket).
 */
import { Client } from 'pg';
import scenario from '../../loadtest/scenario.json';
import type { PlannedRequest } from '../load-client';
import { CEILING_PORT, POOL_MAX, SCRIPTS } from '../service';
import {
  NodeOptions,
  Process,
  countingLoad,
  latencySummary,
  noUnexplained,
  startProcess,
  waitFor,
} from '../support';

export const ceilingUrl = `http://127.0.0.1:${CEILING_PORT}`;

/** The bare route's process (bench/http-ceiling-server.ts), ready. */
export async function startCeilingServer(node: NodeOptions): Promise<Process> {
  const server = startProcess(SCRIPTS.ceiling, [String(CEILING_PORT)], {}, node);
  await waitFor(
    () => Promise.resolve(server.lines.includes('ready')),
    10_000,
    'the ceiling server',
  );
  return server;
}

/** `count` requests of the bare route, as the surge's client sends them. */
export function ceilingPlan(count: number): PlannedRequest[] {
  return Array.from({ length: count }, () => ({
    method: 'POST',
    path: '/ceiling',
    body: { userId: 1 },
  }));
}

export async function httpCeilingScenario(requestCount: number, node: NodeOptions) {
  const server = await startCeilingServer(node);
  try {
    const unexplained = noUnexplained();
    const load = countingLoad([ceilingUrl], unexplained);
    const results = await load('http-ceiling', ceilingPlan(requestCount), scenario.connections);
    return {
      requestsPerSecond: Math.round(requestCount / (results.durationMs / 1000)),
      latency: latencySummary(results.latencyMs),
      unexplained,
    };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

/** As many direct pg clients as the service's pool, each doing one durable INSERT … ON CONFLICT DO NOTHING per ticket. */
export async function databaseCeilingScenario(databaseUrl: string) {
  const rows = 20_000;
  const setup = new Client({ connectionString: databaseUrl });
  await setup.connect();
  await setup.query(
    'CREATE TABLE bench_ceiling (event_id bigint NOT NULL, user_id bigint NOT NULL, issued_at timestamptz NOT NULL, PRIMARY KEY (event_id, user_id))',
  );
  const clients = await Promise.all(
    Array.from({ length: POOL_MAX }, async () => {
      const client = new Client({ connectionString: databaseUrl });
      await client.connect();
      return client;
    }),
  );
  let next = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      for (let userId = next++; userId < rows; userId = next++) {
        await client.query(
          'INSERT INTO bench_ceiling (event_id, user_id, issued_at) VALUES (1, $1, now()) ON CONFLICT DO NOTHING',
          [userId],
        );
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((client) => client.end()));
  await setup.end();
  return { insertsPerSecond: Math.round(rows / seconds), clients: POOL_MAX };
}
