/**
 * The opening-second surge against one instance of the production build, with the ceilings measured in the
 * same run and the invariants checked in the database; then the peer, back to back (scenarios/peer.ts).
 */
import scenario from '../../loadtest/scenario.json';
import {
  Options,
  checkInvariants,
  createEvent,
  issuanceRates,
  nodeOptions,
  startBenchService,
  stormPlan,
} from '../service';
import { latencySummary, peakRssMb, round2, withCpu } from '../support';
import { databaseCeilingScenario, httpCeilingScenario } from './ceilings';
import { peerRun } from './peer';

export type SurgeRun = Awaited<ReturnType<typeof surgeRun>>;

export async function surgeRun(serverUrl: string, options: Options) {
  const surge = await surgeScenario(serverUrl, options);
  const httpCeiling = await httpCeilingScenario(surge.plan.length, nodeOptions(options));
  const databaseCeiling = await databaseCeilingScenario(surge.databaseUrl);
  const summary = summarizeSurge(surge, httpCeiling, databaseCeiling);
  const peer = await peerRun(serverUrl, options, summary.surge);
  return { ...summary, peer };
}

async function surgeScenario(serverUrl: string, options: Options) {
  const service = await startBenchService(serverUrl, {
    node: nodeOptions(options, true),
    warmUp: { name: 'warm-up' },
  });
  try {
    const eventKey = await createEvent(service.url, 'surge', scenario.tickets);
    const plan = stormPlan(eventKey, scenario.users, scenario.retransmitRatio);
    const {
      result: results,
      cpuUs: [cpuUs],
    } = await withCpu(service.pids, () => service.load('surge', plan));
    const peakRss = peakRssMb(service.pids[0]);
    const [totals] = await service.stop();
    const invariants = await checkInvariants(
      service.knex,
      eventKey,
      scenario.tickets,
      plan,
      results,
    );
    const { databaseUrl, unexplained } = service;
    return { databaseUrl, plan, results, peakRss, cpuUs, totals, invariants, unexplained };
  } finally {
    await service.close();
  }
}

function summarizeSurge(
  surge: Awaited<ReturnType<typeof surgeScenario>>,
  httpCeiling: Awaited<ReturnType<typeof httpCeilingScenario>>,
  databaseCeiling: Awaited<ReturnType<typeof databaseCeilingScenario>>,
) {
  const { plan, results } = surge;
  const statusCounts: Record<string, number> = {};
  results.status.forEach((status) => (statusCounts[status] = (statusCounts[status] ?? 0) + 1));
  const { outcome, lastIssuedMs, issuedPerSecond, rejectedPerSecond, requestsPerSecond } =
    issuanceRates(plan, results);
  const latencies: Record<string, number[]> = {};
  plan.forEach((_, index) => (latencies[outcome(index)] ??= []).push(results.latencyMs[index]));
  const latencyMsByOutcome = Object.fromEntries(
    Object.entries(latencies).map(([name, values]) => [name, latencySummary(values)]),
  );
  const worstP99 = Math.max(...Object.values(latencyMsByOutcome).map((l) => l.p99));
  return {
    surge: {
      requests: plan.length,
      durationMs: Math.round(results.durationMs),
      requestsPerSecond,
      firstWaveMs: Math.round(lastIssuedMs),
      issuedTicketsPerSecond: issuedPerSecond,
      rejectedAnswersPerSecond: rejectedPerSecond,
      statusCounts,
      latencyMsByOutcome,
      worstP99Ms: worstP99,
      serverErrors: results.status.filter((status) => status >= 500 || status < 0).length,
      /** Warm-up included: any 5xx but a 503 with Retry-After, any request without an answer. */
      unexplained: surge.unexplained,
      serializationRetriesPerIssuedTicket: surge.totals.retries / Math.max(1, surge.totals.issued),
      issuanceTotals: surge.totals,
      servicePeakRssMb: surge.peakRss,
      /** The service's CPU time (user + system, /proc) over the surge, per request of the plan. */
      serviceCpuUsPerRequest: Math.round(surge.cpuUs / plan.length),
      invariants: surge.invariants,
    },
    ceilings: { http: httpCeiling, database: databaseCeiling },
    ratios: {
      wholeSurgeToHttpCeiling: round2(
        plan.length / (results.durationMs / 1000) / httpCeiling.requestsPerSecond,
      ),
      issuedToDatabaseCeiling: round2(issuedPerSecond / databaseCeiling.insertsPerSecond),
      rejectedToHttpCeiling: round2(rejectedPerSecond / httpCeiling.requestsPerSecond),
      worstP99ToHttpCeilingP99: round2(worstP99 / httpCeiling.latency.p99),
    },
  };
}
