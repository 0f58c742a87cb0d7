import { Inject, Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { Clock } from '../clock/clock';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import {
  DomainError,
  EventNotFoundError,
  ServiceUnavailableError,
} from '../common/errors/domain-errors';
import { toErrorResponse } from '../common/errors/error-response';
import { KeyedBatcher } from '../common/keyed-batcher';
import { kstDay } from '../common/time';
import { KNEX } from '../database/database.module';
import { runSerializable } from '../database/transaction';
import { EventsRepository } from '../events/events.repository';
import type { IdempotencyClaim } from '../idempotency/idempotency-claim';
import { IdempotencyRepository } from '../idempotency/idempotency.repository';
import { decideIssuance, IssuanceDecision } from './issuance-policy';
import { TicketView, toTicketView } from './ticket.views';
import { TicketsRepository } from './tickets.repository';

export interface IssueTicketRequest {
  userId: number;
  claim?: IdempotencyClaim;
}

export type IssueTicketAnswer =
  | { kind: 'issued' | 'already-held'; status: 201 | 200; body: TicketView }
  | { kind: 'refused' | 'not-found'; error: DomainError };

export interface IssueTicketResult {
  answer: IssueTicketAnswer;
  /** Serialization retries the request's transaction needed. */
  retries: number;
}

/** Serialization retries since start-up, per issued ticket, for the benchmark and operators. */
export interface IssuanceStats {
  batches: number;
  requests: number;
  issued: number;
  retries: number;
}

/**
 * Use case: issue a golden ticket. Concurrent requests for one event are coalesced (KeyedBatcher) and decided
 * together in ONE SERIALIZABLE transaction that reads the event, the users' tickets and today's count, applies
 * the rules (issuance-policy.ts), writes the new tickets and counters, and stores each keyed request's answer.
 * The transaction is retried on serialization failure; when retries run out every request of the batch gets
 * a 503 and nothing of it was written.
 */
@Injectable()
export class TicketIssuanceService {
  private readonly batcher: KeyedBatcher<IssueTicketRequest, IssueTicketResult>;
  readonly stats: IssuanceStats = { batches: 0, requests: 0, issued: 0, retries: 0 };

  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly events: EventsRepository,
    private readonly tickets: TicketsRepository,
    private readonly idempotency: IdempotencyRepository,
  ) {
    this.batcher = new KeyedBatcher((eventKey, requests) => this.issueBatch(eventKey, requests), {
      maxBatch: config.issuance.batchMax,
      maxQueued: config.issuance.queueMax,
      overflowError: () => new ServiceUnavailableError(),
    });
  }

  issue(eventKey: string, request: IssueTicketRequest): Promise<IssueTicketResult> {
    return this.batcher.submit(eventKey, request);
  }

  /** Resolves once every request accepted so far has its answer (graceful shutdown). */
  drained(): Promise<void> {
    return this.batcher.idle();
  }

  private async issueBatch(
    eventKey: string,
    requests: IssueTicketRequest[],
  ): Promise<IssueTicketResult[]> {
    const { value: answers, retries } = await runSerializable(
      this.knex,
      {
        maxAttempts: this.config.issuance.txMaxAttempts,
        baseDelayMs: this.config.issuance.txRetryBaseMs,
      },
      (trx) => this.decideAndWrite(trx, eventKey, requests),
    );
    for (const request of requests) if (request.claim) request.claim.stored = true;
    this.record(answers, retries);
    return answers.map((answer) => ({ answer, retries }));
  }

  private async decideAndWrite(
    trx: Knex.Transaction,
    eventKey: string,
    requests: IssueTicketRequest[],
  ): Promise<IssueTicketAnswer[]> {
    const now = this.clock.now();
    const event = await this.events.findByKey(trx, eventKey);
    let answers: IssueTicketAnswer[];
    if (!event) {
      answers = requests.map(() => ({ kind: 'not-found', error: new EventNotFoundError() }));
    } else {
      const day = kstDay(now);
      const userIds = requests.map((request) => request.userId);
      const held = await this.tickets.findHeld(trx, event.id, userIds);
      const issuedToday = (await this.events.issuedOnDay(trx, [event.id], day)).get(event.id) ?? 0;
      const decisions = decideIssuance(event, { held, issuedToday }, userIds, now);
      const issued = decisions.flatMap((d) => (d.kind === 'issued' ? [d.ticket] : []));
      if (issued.length > 0) {
        await this.tickets.insertMany(trx, event.id, day, issued);
        await this.events.addIssued(trx, event, day, issued.length);
      }
      answers = decisions.map((decision) => toAnswer(decision, eventKey));
    }
    await this.idempotency.completeMany(
      trx,
      requests.flatMap((request, index) =>
        request.claim ? [{ claim: request.claim, response: responseOf(answers[index]) }] : [],
      ),
    );
    return answers;
  }

  private record(answers: IssueTicketAnswer[], retries: number): void {
    this.stats.batches += 1;
    this.stats.requests += answers.length;
    this.stats.issued += answers.filter((answer) => answer.kind === 'issued').length;
    this.stats.retries += retries;
  }
}

function toAnswer(decision: IssuanceDecision, eventKey: string): IssueTicketAnswer {
  switch (decision.kind) {
    case 'issued':
      return { kind: 'issued', status: 201, body: toTicketView(decision.ticket, eventKey) };
    case 'already-held':
      return { kind: 'already-held', status: 200, body: toTicketView(decision.ticket, eventKey) };
    case 'refused':
      return { kind: 'refused', error: decision.error };
  }
}

function responseOf(answer: IssueTicketAnswer) {
  return 'error' in answer
    ? toErrorResponse(answer.error)
    : { status: answer.status, body: answer.body };
}
