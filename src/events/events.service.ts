import { Inject, Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { Clock } from '../clock/clock';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { EventNotFoundError } from '../common/errors/domain-errors';
import { kstDay, truncateToSecond } from '../common/time';
import { issuanceLock } from '../database/advisory-lock';
import { KNEX } from '../database/database.module';
import { runSerializable } from '../database/transaction';
import { IdempotencyRepository } from '../idempotency/idempotency.repository';
import type { IdempotencyClaim } from '../idempotency/idempotency-claim';
import type { CorrectEventInput, CreateEventInput } from './event.schemas';
import { CreatedEventView, EventView, toCreatedEventView, toEventView } from './event.views';
import { Metrics, REMAINING_EVENTS_MAX } from '../metrics/metrics';
import { AuditedRequest, EventAudit } from './event-audit';
import { checkPeriodNotOver, correctionOf } from './event-rules';
import { CachedAnswer, EventViewsCache } from './event-views.cache';
import { EventUpdates } from './event-updates';
import { EventsRepository } from './events.repository';

/**
 * The event use cases: create, read, list the running ones, correct or switch one. Reads are answered
 * from memory (EventViewsCache) with a stated freshness; writes tell it what they committed.
 */
@Injectable()
export class EventsService {
  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly events: EventsRepository,
    private readonly idempotency: IdempotencyRepository,
    private readonly updates: EventUpdates,
    private readonly views: EventViewsCache,
    private readonly audit: EventAudit,
    metrics: Metrics,
  ) {
    // The remaining-tickets gauge: the events running now (the most recently opened, if many), at scrape time.
    metrics.setRemainingTicketsSource(async () =>
      (
        await this.events.listOpenAt(this.knex, this.clock.now(), { limit: REMAINING_EVENTS_MAX })
      ).map((event) => ({ eventKey: event.eventKey, remaining: event.remainingQuantity })),
    );
  }

  /** Creates the event; with an Idempotency-Key its answer is stored in the same transaction. */
  async createEvent(
    input: CreateEventInput,
    claim: IdempotencyClaim | undefined,
    by: AuditedRequest,
  ): Promise<CreatedEventView> {
    const now = this.clock.now();
    checkPeriodNotOver(input.endAt, now);
    const created = await this.knex.transaction(async (trx) => {
      const event = await this.events.insert(trx, input, truncateToSecond(now));
      if (claim) {
        await this.idempotency.complete(trx, claim, {
          status: 201,
          body: toCreatedEventView(event),
        });
      }
      return event;
    });
    if (claim) claim.stored = true;
    this.views.noteListChanged();
    this.audit.created(by, created);
    return toCreatedEventView(created);
  }

  /** The event's view as bytes with its ETag, within the stated freshness. */
  async getEvent(eventKey: string): Promise<CachedAnswer> {
    const answer = await this.views.view(eventKey);
    if (!answer) throw new EventNotFoundError();
    return answer;
  }

  listRunningEvents(): Promise<CachedAnswer> {
    return this.views.running();
  }

  /**
   * Corrects or switches the event (event-rules.ts says what may change), in one transaction under the
   * event's issuance lock: it runs between two issuance batches of the event on any instance, so the counts
   * it checks are the committed ones, and every batch after it sees it. With an Idempotency-Key the answer
   * is stored in the same transaction. Once committed, this process's views and final refusals follow at
   * once (EventUpdates); other instances' within their re-read.
   */
  async correctEvent(
    eventKey: string,
    input: CorrectEventInput,
    claim: IdempotencyClaim | undefined,
    by: AuditedRequest,
  ): Promise<EventView> {
    const { value } = await runSerializable(
      this.knex,
      {
        maxAttempts: this.config.issuance.txMaxAttempts,
        baseDelayMs: this.config.issuance.txRetryBaseMs,
      },
      async (trx) => {
        const before = await this.events.findByKey(trx, eventKey);
        if (!before) throw new EventNotFoundError();
        const now = this.clock.now();
        const day = kstDay(now);
        const issuedToday =
          (await this.events.issuedOnDay(trx, [before.id], day)).get(before.id) ?? 0;
        const changes = correctionOf(before, issuedToday, input, now);
        const after =
          Object.keys(changes).length > 0
            ? await this.events.update(trx, before.id, changes)
            : before;
        if (changes.dailyLimit !== undefined) {
          await this.events.setDailyCapFrom(trx, before.id, day, changes.dailyLimit);
        }
        const view = toEventView(after, issuedToday, now);
        if (claim) await this.idempotency.complete(trx, claim, { status: 200, body: view });
        return { before, after, changes, view };
      },
      issuanceLock(eventKey),
    );
    if (claim) claim.stored = true;
    const { before, after, changes, view } = value;
    if (Object.keys(changes).length > 0) this.updates.updated(after);
    this.audit.updated(by, before, changes);
    return view;
  }
}
