import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { Knex } from 'knex';
import { Clock } from '../clock/clock';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import {
  EventNotFoundError,
  IdempotencyKeyReusedError,
  ServiceUnavailableError,
} from '../common/errors/domain-errors';
import { KeyedBatcher } from '../common/keyed-batcher';
import { kstDay } from '../common/time';
import { KNEX } from '../database/database.module';
import { isDatabaseUnavailable } from '../database/pg-errors';
import { issuanceLock } from '../database/advisory-lock';
import { runSerializable } from '../database/transaction';
import type { StoredResponse } from '../idempotency/idempotency-claim';
import {
  IdempotentRequest,
  KeyRecord,
  Verdict,
  claimTiming,
  isSameRequest,
  judge,
} from '../idempotency/idempotency-rules';
import { AnswerGroupCommit } from '../idempotency/answer-group-commit';
import { CommittedAnswers } from '../idempotency/committed-answers';
import type { EventModel } from '../events/event.model';
import { EventViewsCache } from '../events/event-views.cache';
import { FinalRefusals } from './final-refusals';
import { decideIssuance, HeldTicket } from './issuance-policy';
import { IssuanceRepository } from './issuance.repository';
import { Metrics } from '../metrics/metrics';
import { IssueTicketAnswer, answerOf, issuanceOutcomeOf, responseOf } from './ticket-answers';

export interface IssueTicketRequest {
  userId: number;
  idempotent?: IdempotentRequest;
}

export interface IssueTicketResult {
  answer: IssueTicketAnswer;
  /** Serialization retries the request's transaction needed. */
  retries: number;
}

/** Totals since start-up, for operators and the benchmark. */
export interface IssuanceStats {
  batches: number;
  requests: number;
  issued: number;
  retries: number;
  /** Requests answered without the database (final refusals, remembered keys). */
  fromMemory: number;
  /** Size and duration (lock wait included) of the first batches: the opening wave, batch by batch. */
  firstBatches: Array<{ size: number; ms: number }>;
}

const FIRST_BATCHES_KEPT = 20;

/**
 * Use case: issue a golden ticket. What is known without the database is answered from memory: a key this
 * process remembers (its complete answer, or 422 for another request), and every request for an event whose
 * refusals are final (FinalRefusals: sold out, today's cap). The rest, concurrent requests for one event, are
 * coalesced (KeyedBatcher) and decided together in ONE SERIALIZABLE transaction of two statements
 * (IssuanceRepository), under the event's advisory lock so other instances' batches queue, which
 * 1. reads the event, the users' tickets, today's count and the Idempotency-Key records,
 * 2. judges each key (replay, 422, 409, or run) and applies the rules (issuance-policy.ts) to the rest,
 * 3. writes the new tickets and counters, and records every keyed request with its answer.
 * One commit per batch instead of two per request; the transaction is retried on serialization failure, and
 * when retries run out every request of the batch gets a 503 and nothing of it was written.
 */
@Injectable()
export class TicketIssuanceService implements OnApplicationShutdown {
  private readonly logger = new Logger(TicketIssuanceService.name);
  private readonly batcher: KeyedBatcher<IssueTicketRequest, IssueTicketResult>;
  readonly stats: IssuanceStats = {
    batches: 0,
    requests: 0,
    issued: 0,
    retries: 0,
    fromMemory: 0,
    firstBatches: [],
  };

  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly issuance: IssuanceRepository,
    private readonly finalRefusals: FinalRefusals,
    private readonly committedAnswers: CommittedAnswers,
    private readonly groupCommit: AnswerGroupCommit,
    private readonly metrics: Metrics,
    private readonly eventViews: EventViewsCache,
  ) {
    this.batcher = new KeyedBatcher((eventKey, requests) => this.issueBatch(eventKey, requests), {
      maxBatch: config.issuance.batchMax,
      maxQueued: config.issuance.queueMax,
      overflowError: () => new ServiceUnavailableError(),
      // A silent or unreachable database answers the whole queue 503 within one query deadline.
      failsQueue: isDatabaseUnavailable,
    });
    metrics.setQueueDepthSource(() => this.batcher.size);
  }

  async issue(eventKey: string, request: IssueTicketRequest): Promise<IssueTicketResult> {
    try {
      const result =
        (await this.answerFromMemory(eventKey, request)) ??
        (await this.batcher.submit(eventKey, request));
      this.metrics.issuanceRequests.inc({ outcome: issuanceOutcomeOf(result.answer) });
      return result;
    } catch (error) {
      this.metrics.issuanceRequests.inc({ outcome: 'unavailable' });
      throw error;
    }
  }

  /**
   * Without a batch when the answer is known: a key this process remembers (replay or 422), or an event
   * whose refusals are final (FinalRefusals). A keyed final refusal is answered once its record is committed
   * (AnswerGroupCommit) — or with the answer the key already holds; a key whose record may be replaced
   * (expired) goes to a batch, which judges and writes it with the rules.
   */
  private async answerFromMemory(
    eventKey: string,
    { userId, idempotent }: IssueTicketRequest,
  ): Promise<IssueTicketResult | undefined> {
    const now = this.clock.now();
    const verdict = idempotent && this.committedAnswers.recall(idempotent, now);
    if (verdict) {
      this.stats.fromMemory += 1;
      return { answer: answerOfVerdict(verdict), retries: 0 };
    }
    const decision = await this.finalRefusals.decide(
      eventKey,
      userId,
      idempotent !== undefined,
      now,
    );
    if (!decision) return undefined;
    let answer = answerOf(decision, eventKey);
    if (idempotent) {
      const committed = await this.groupCommit.commit(
        eventKey,
        idempotent,
        responseOf(answer),
        now,
      );
      if (committed.kind === 'claimable') return undefined;
      if (committed.kind !== 'stored') answer = answerOfVerdict(committed);
    }
    this.stats.fromMemory += 1;
    return { answer, retries: 0 };
  }

  /** Logs the totals once at shutdown. */
  onApplicationShutdown(): void {
    this.logger.log({ issuanceTotals: this.stats }, 'issuance totals');
  }

  private async issueBatch(
    eventKey: string,
    requests: IssueTicketRequest[],
  ): Promise<IssueTicketResult[]> {
    const startedAt = performance.now();
    this.metrics.batchSize.observe(requests.length);
    const { value: outcome, retries } = await runSerializable(
      this.knex,
      {
        maxAttempts: this.config.issuance.txMaxAttempts,
        baseDelayMs: this.config.issuance.txRetryBaseMs,
        onRetry: () => this.metrics.serializationRetries.inc(),
      },
      (trx) => this.decideAndWrite(trx, eventKey, requests),
      // Batches of the same event on other instances queue behind this one instead of conflicting.
      issuanceLock(eventKey),
    ).finally(() => this.metrics.batchDuration.observe((performance.now() - startedAt) / 1000));
    // Committed: what it tells outlives the batch.
    const { answers, keyed, readKeys, now, settledState } = outcome;
    for (const { request, response, expiresAt } of keyed) {
      this.committedAnswers.remember(request, response, expiresAt);
    }
    for (const record of readKeys) this.committedAnswers.rememberRecord(record, now);
    if (settledState) {
      const { event, issuedToday, day, readAt } = settledState;
      this.finalRefusals.noteBatch(event, issuedToday, day, readAt);
      this.eventViews.noteBatch(event, issuedToday, day);
    }
    this.stats.batches += 1;
    this.stats.requests += answers.length;
    this.stats.issued += answers.filter((answer) => answer.kind === 'issued').length;
    this.stats.retries += retries;
    if (this.stats.firstBatches.length < FIRST_BATCHES_KEPT) {
      const ms = Math.round(performance.now() - startedAt);
      this.stats.firstBatches.push({ size: requests.length, ms });
    }
    return answers.map((answer) => ({ answer, retries }));
  }

  private async decideAndWrite(
    trx: Knex.Transaction,
    eventKey: string,
    requests: IssueTicketRequest[],
  ): Promise<BatchOutcome> {
    const now = this.clock.now();
    const readAt = performance.now();
    const day = kstDay(now);
    const { lockTimeoutSeconds } = this.config.idempotency;
    const answers = new Array<IssueTicketAnswer | undefined>(requests.length);
    const snapshot = await this.issuance.read(
      trx,
      eventKey,
      requests.map((request) => request.userId),
      day,
      requests.flatMap((request) => (request.idempotent ? [request.idempotent.key] : [])),
    );

    // 1. Idempotency-Keys: every copy is judged against its key's record (replay, 422, 409). A key the batch
    //    may take (none stored, or expired) goes to its first copy here; later copies of the same request
    //    get that copy's answer (filled in at the end), another request under it 422.
    const firstWithKey = new Map<string, number>();
    const copyOf = new Map<number, number>();
    requests.forEach(({ idempotent }, index) => {
      if (!idempotent) return;
      const record = snapshot.keys.get(idempotent.key);
      const verdict = judge(record, idempotent.fingerprint, now, lockTimeoutSeconds);
      if (verdict.kind !== 'claimable') {
        answers[index] = answerOfVerdict(verdict);
        return;
      }
      const first = firstWithKey.get(idempotent.key);
      if (first === undefined) {
        firstWithKey.set(idempotent.key, index);
      } else if (isSameRequest(requests[first].idempotent!.fingerprint, idempotent.fingerprint)) {
        copyOf.set(index, first);
      } else {
        answers[index] = { kind: 'refused', error: new IdempotencyKeyReusedError() };
      }
    });
    const toDecide = requests
      .map((request, index) => ({ request, index }))
      .filter(({ index }) => answers[index] === undefined && !copyOf.has(index));

    // 2. The issuance rules for the rest, in arrival order.
    const { event } = snapshot;
    let issued: HeldTicket[] = [];
    if (!event) {
      for (const { index } of toDecide) {
        answers[index] = { kind: 'not-found', error: new EventNotFoundError() };
      }
    } else {
      const userIds = toDecide.map(({ request }) => request.userId);
      const decisions = decideIssuance(event, snapshot, userIds, now);
      decisions.forEach(
        (decision, i) => (answers[toDecide[i].index] = answerOf(decision, eventKey)),
      );
      issued = decisions.flatMap((d) => (d.kind === 'issued' ? [d.ticket] : []));
    }

    // 3. One write: the new tickets and counts, and every keyed request decided here with its answer.
    const stored = new Map<number, StoredResponse>();
    for (const { request, index } of toDecide) {
      if (request.idempotent) stored.set(index, responseOf(answers[index]!));
    }
    const timing = claimTiming(now, this.config.idempotency);
    await this.issuance.write(
      trx,
      event && issued.length > 0 ? { event, day, tickets: issued } : undefined,
      [...stored].map(([index, response]) => ({ request: requests[index].idempotent!, response })),
      timing,
    );
    for (const [index, first] of copyOf) {
      const response = stored.get(first);
      answers[index] = response ? { kind: 'replay', response } : answers[first];
    }
    // The answers this batch stored, and the records it read (replayed or refused 422).
    const keyed = [...stored].map(([index, response]) => ({
      request: requests[index].idempotent!,
      response,
      expiresAt: timing.expiresAt,
    }));
    if (event) event.issuedCount += issued.length;
    return {
      answers: answers as IssueTicketAnswer[],
      keyed,
      readKeys: [...snapshot.keys.values()],
      now,
      settledState: event
        ? { event, issuedToday: snapshot.issuedToday + issued.length, day, readAt }
        : undefined,
    };
  }
}

/** What a committed batch decided, and what it saw of its event once written. */
interface BatchOutcome {
  answers: IssueTicketAnswer[];
  /** The answers the batch stored for its keys, with their records' expiry. */
  keyed: Array<{ request: IdempotentRequest; response: StoredResponse; expiresAt: Date }>;
  /** The keys' records the batch read. */
  readKeys: KeyRecord[];
  now: Date;
  settledState?: { event: EventModel; issuedToday: number; day: string; readAt: number };
}

/** A key's stored answer (a replay) or refusal (422, 409 in flight) as this route's answer. */
function answerOfVerdict(verdict: Exclude<Verdict, { kind: 'claimable' }>): IssueTicketAnswer {
  return verdict.kind === 'replay'
    ? { kind: 'replay', response: verdict.response }
    : { kind: 'refused', error: verdict.error };
}
