import cluster from 'node:cluster';
import { Inject, Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
} from 'prom-client';
import { KNEX } from '../database/database.module';

/** What issuance answered; exactly one per request that reached the use case. */
const ISSUANCE_OUTCOMES = [
  'issued',
  'already_held',
  'sold_out',
  'daily_limit_reached',
  'outside_period',
  'switched_off',
  'not_found',
  'replayed',
  'key_reused',
  'key_in_flight',
  'unavailable',
] as const;
export type IssuanceOutcome = (typeof ISSUANCE_OUTCOMES)[number];

/** What the Idempotency-Key layer did on the routes other than issuance. */
const IDEMPOTENCY_RESULTS = ['stored', 'replayed', 'key_reused', 'key_in_flight'] as const;
export type IdempotencyResult = (typeof IDEMPOTENCY_RESULTS)[number];

/** Events running now, with their remaining tickets (at most REMAINING_EVENTS_MAX of them). */
export type RemainingTicketsSource = () => Promise<Array<{ eventKey: string; remaining: number }>>;

/** prom-client's default gauges with a counter's `_total` suffix, left out of the registry. */
const GAUGES_NAMED_TOTAL = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** Route label of requests that matched no route: one value, whatever the path (no series explosion). */
export const UNMATCHED_ROUTE = '(unmatched)';
/** The remaining-tickets gauge is read at scrape time, and the read is good for this long. */
const REMAINING_CACHED_MS = 1_000;
/** Most events the remaining-tickets gauge reports (the running ones opened last). */
export const REMAINING_EVENTS_MAX = 100;

interface PoolLike {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

/**
 * Every metric of the service, in one registry, under the names dashboards rely on (README: Metrics).
 * Labels carry only bounded values — route patterns, never raw URLs; no user, key or Idempotency-Key — save
 * `event_key` on the remaining-tickets gauge, which is bounded to the events running now. With WORKERS > 1
 * each worker keeps its own and GET /metrics answers for the whole process tree (cluster-metrics.ts).
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly issuanceRequests = new Counter({
    name: 'golden_ticket_issuance_requests_total',
    help: 'Ticket requests that reached issuance, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'golden_ticket_issuance_batch_size',
    help: 'Requests decided together in one issuance transaction',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
    registers: [this.registry],
  });

  readonly batchDuration = new Histogram({
    name: 'golden_ticket_issuance_batch_duration_seconds',
    help: 'Duration of an issuance batch, waiting for its event lock included',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly serializationRetries = new Counter({
    name: 'golden_ticket_serialization_retries_total',
    help: 'Issuance transactions run again after a serialization failure or deadlock',
    registers: [this.registry],
  });

  readonly throttled = new Counter({
    name: 'golden_ticket_throttled_requests_total',
    help: 'Requests refused 429 by a throttle budget, by scope',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });

  readonly deferred = new Counter({
    name: 'golden_ticket_deferred_requests_total',
    help: 'Requests over the per-address rate held for their place in line (then let through), by scope',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });

  readonly deferral = new Histogram({
    name: 'golden_ticket_deferral_seconds',
    help: 'How long deferred requests waited for their place in the per-address line',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });

  readonly idempotency = new Counter({
    name: 'golden_ticket_idempotency_requests_total',
    help: 'Keyed requests on the routes other than issuance, by what the Idempotency-Key layer did',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  private queueDepthSource: () => number = () => 0;
  private remainingSource?: RemainingTicketsSource;
  private remainingRead?: {
    at: number;
    values: Promise<Array<{ eventKey: string; remaining: number }>>;
  };

  constructor(@Inject(KNEX) knex: Knex) {
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges like counters, which Prometheus' naming rules (promtool check metrics)
    // refuse; sum(nodejs_active_handles) and the like give the same totals from the by-type gauges.
    for (const name of GAUGES_NAMED_TOTAL) this.registry.removeSingleMetric(name);
    const pool = (knex.client as { pool?: PoolLike }).pool;

    // Gauges read at scrape time (collect), from their sources.
    const queueDepth: Gauge = new Gauge({
      name: 'golden_ticket_issuance_queue_depth',
      help: 'Ticket requests waiting for an issuance batch',
      registers: [this.registry],
      collect: () => queueDepth.set(this.queueDepthSource()),
    });

    const poolConnections: Gauge<'state'> = new Gauge({
      name: 'golden_ticket_db_pool_connections',
      help: 'Database pool connections: used, free, and requests waiting for one (pending)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect: () => {
        if (!pool) return;
        poolConnections.set({ state: 'used' }, pool.numUsed());
        poolConnections.set({ state: 'free' }, pool.numFree());
        poolConnections.set({ state: 'pending' }, pool.numPendingAcquires());
      },
    });

    const remaining: Gauge<'event_key'> = new Gauge({
      name: 'golden_ticket_event_remaining_tickets',
      help: `Tickets left, for the events running now (the ${REMAINING_EVENTS_MAX} opened last, if more)`,
      labelNames: ['event_key'] as const,
      // Every worker reads the same database: one value, not their sum.
      aggregator: 'max',
      registers: [this.registry],
      collect: async () => {
        const values = await this.readRemaining();
        remaining.reset();
        for (const { eventKey, remaining: left } of values) {
          remaining.set({ event_key: eventKey }, left);
        }
      },
    });

    // Every known label value from the start, at 0: a rate() over the first storm sees its first samples.
    for (const outcome of ISSUANCE_OUTCOMES) this.issuanceRequests.labels({ outcome }).inc(0);
    for (const scope of ['ip', 'user']) this.throttled.labels({ scope }).inc(0);
    this.deferred.labels({ scope: 'ip' }).inc(0);
    for (const result of IDEMPOTENCY_RESULTS) this.idempotency.labels({ result }).inc(0);

    if (cluster.isWorker) {
      // Answer the primary's requests for this worker's metrics (prom-client's cluster protocol).
      AggregatorRegistry.setRegistries([this.registry]);
      new AggregatorRegistry();
    }
  }

  /** Where the queue-depth gauge reads from (issuance's batcher). */
  setQueueDepthSource(source: () => number): void {
    this.queueDepthSource = source;
  }

  /** Where the remaining-tickets gauge reads from (the events use cases). */
  setRemainingTicketsSource(source: RemainingTicketsSource): void {
    this.remainingSource = source;
  }

  observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status_code: statusCode }, seconds);
  }

  /** The scrape of this process, in Prometheus' text format. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  private readRemaining(): Promise<Array<{ eventKey: string; remaining: number }>> {
    const source = this.remainingSource;
    if (!source) return Promise.resolve([]);
    const now = performance.now();
    if (!this.remainingRead || now - this.remainingRead.at > REMAINING_CACHED_MS) {
      // A database that does not answer leaves the gauge empty for this scrape, never fails it.
      this.remainingRead = { at: now, values: source().catch(() => []) };
    }
    return this.remainingRead.values;
  }
}
