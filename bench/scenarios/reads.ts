/**
 * The reads: the drop as users make it (event pages between ticket requests) against the same drop without,
 * and each read route's storm against /health/live in the same run.
 */
import scenario from '../../loadtest/scenario.json';
import type { PlannedRequest } from '../load-client';
import {
  Options,
  Planned,
  checkInvariants,
  createEvent,
  issuanceRates,
  nodeOptions,
  startBenchService,
  stormPlan,
} from '../service';
import { round2, unexplainedKind } from '../support';

export type ReadsRun = Awaited<ReturnType<typeof readsRun>>;

/** Event-page reads per ticket request in the mixed drop, from the same connections. */
export const READS_PER_TICKET_REQUEST = 3;
/** Requests and connections of each read-only storm (one route at a time). */
export const READ_STORM = { requests: 40_000, connections: 200 };

/**
 * One service on a fresh database: the surge's storm without reads and with three event-page reads after
 * each ticket request (the order alternating between runs, each on an event of its own), then read-only
 * storms of each route between two of /health/live, whose mean is the run's reference.
 */
export async function readsRun(serverUrl: string, run: number, options: Options) {
  const service = await startBenchService(serverUrl, {
    node: nodeOptions(options, true),
    warmUp: { name: 'reads-warm-up', shape: withReads },
  });
  const { knex } = service;
  try {
    const drop = async (mixed: boolean) => {
      const eventKey = await createEvent(service.url, mixed ? 'mixed' : 'plain', scenario.tickets);
      const tickets = stormPlan(eventKey, scenario.users, scenario.retransmitRatio);
      const plan = mixed ? withReads(tickets, eventKey) : tickets;
      const results = await service.load(mixed ? 'mixed' : 'plain', plan);
      const rates = issuanceRates(plan, results);
      const reads = plan.filter((request) => request.kind === 'read').length;
      return {
        eventKey,
        plan,
        results,
        issuedPerSecond: rates.issuedPerSecond,
        rejectedPerSecond: rates.rejectedPerSecond,
        readsPerSecond: Math.round(reads / (results.durationMs / 1000)),
        serverErrors: results.status.filter((status) => status >= 500 || status < 0).length,
        readsNot200: plan.filter((r, i) => r.kind === 'read' && results.status[i] !== 200).length,
      };
    };
    const mixedFirst = run % 2 === 0;
    const first = await drop(mixedFirst);
    const second = await drop(!mixedFirst);
    const [plain, mixed] = mixedFirst ? [second, first] : [first, second];

    const storm = async (name: string, pathOf: (i: number) => string) => {
      const plan: PlannedRequest[] = Array.from({ length: READ_STORM.requests }, (_, i) => ({
        method: 'GET',
        path: pathOf(i),
      }));
      const results = await service.load(`read-${name}`, plan, READ_STORM.connections);
      // Unexplained answers are counted (service.unexplained) like any other; a read is always answered 200.
      const not200 = results.status.filter(
        (status, i) => status !== 200 && unexplainedKind(results, i) === undefined,
      ).length;
      if (not200 > 0) throw new Error(`${name}: ${not200} answers were not 200`);
      return Math.round(plan.length / (results.durationMs / 1000));
    };
    const livenessBefore = await storm('liveness-1', () => '/health/live');
    const event = await storm('event', () => `/events/${mixed.eventKey}`);
    const list = await storm('list', () => '/events');
    const userTickets = await storm(
      'user-tickets',
      (i) => `/users/${(i % scenario.users) + 1}/tickets`,
    );
    const livenessAfter = await storm('liveness-2', () => '/health/live');
    const liveness = Math.round((livenessBefore + livenessAfter) / 2);

    await service.stop();
    const invariants = [
      await checkInvariants(knex, plain.eventKey, scenario.tickets, plain.plan, plain.results),
      await checkInvariants(knex, mixed.eventKey, scenario.tickets, mixed.plan, mixed.results),
    ];
    const pickDrop = ({ plan: _p, results: _r, eventKey: _e, ...figures }: typeof plain) => figures;
    return {
      mixedFirst,
      readsPerSecond: { liveness, livenessBefore, livenessAfter, event, list, userTickets },
      ratios: {
        eventToLiveness: round2(event / liveness),
        listToLiveness: round2(list / liveness),
        userTicketsToLiveness: round2(userTickets / liveness),
        mixedSoldOutToPlain: round2(mixed.rejectedPerSecond / plain.rejectedPerSecond),
        mixedIssuedToPlain: round2(mixed.issuedPerSecond / plain.issuedPerSecond),
        // Were the reads only sharing the CPU? What the two costs measured alone predict for the mix.
        mixedSoldOutToCostModel: round2(
          mixed.rejectedPerSecond /
            (1 / (1 / plain.rejectedPerSecond + READS_PER_TICKET_REQUEST / event)),
        ),
      },
      plain: pickDrop(plain),
      mixed: pickDrop(mixed),
      invariants: {
        ok: invariants.every((i) => i.ok),
        problems: invariants.flatMap((i) => i.problems),
      },
      /** Warm-up, drops and read storms: any 5xx but a 503 with Retry-After, any request without an answer. */
      unexplained: service.unexplained,
    };
  } finally {
    await service.close();
  }
}

/** The storm with READS_PER_TICKET_REQUEST reads of the event's page after each ticket request. */
function withReads(plan: Planned[], eventKey: string): Planned[] {
  const read: Planned = { method: 'GET', path: `/events/${eventKey}`, userId: 0, kind: 'read' };
  return plan.flatMap((request) => [
    request,
    ...Array.from({ length: READS_PER_TICKET_REQUEST }, () => read),
  ]);
}
