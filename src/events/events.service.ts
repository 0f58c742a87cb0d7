import { Inject, Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { Clock } from '../clock/clock';
import { EventNotFoundError } from '../common/errors/domain-errors';
import { kstDay, truncateToSecond } from '../common/time';
import { KNEX } from '../database/database.module';
import { IdempotencyRepository } from '../idempotency/idempotency.repository';
import type { IdempotencyClaim } from '../idempotency/idempotency-claim';
import type { CreateEventInput } from './event.schemas';
import { CreatedEventView, EventView, toCreatedEventView, toEventView } from './event.views';
import { Metrics, REMAINING_EVENTS_MAX } from '../metrics/metrics';
import { CachedAnswer, EventViewsCache } from './event-views.cache';
import { EventSwitches } from './event-switches';
import { EventsRepository } from './events.repository';

/**
 * The event use cases: create, read, list the running ones, switch issuing on or off. Reads are answered
 * from memory (EventViewsCache) with a stated freshness; writes tell it what they committed.
 */
@Injectable()
export class EventsService {
  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    private readonly clock: Clock,
    private readonly events: EventsRepository,
    private readonly idempotency: IdempotencyRepository,
    private readonly switches: EventSwitches,
    private readonly views: EventViewsCache,
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
  async createEvent(input: CreateEventInput, claim?: IdempotencyClaim): Promise<CreatedEventView> {
    const createdAt = truncateToSecond(this.clock.now());
    const view = await this.knex.transaction(async (trx) => {
      const created = toCreatedEventView(await this.events.insert(trx, input, createdAt));
      if (claim) await this.idempotency.complete(trx, claim, { status: 201, body: created });
      return created;
    });
    if (claim) claim.stored = true;
    this.views.noteListChanged();
    return view;
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

  /** Switches issuing; this process's views and final refusals follow at once (EventSwitches). */
  async setEventActive(eventKey: string, isActive: boolean): Promise<EventView> {
    const event = await this.events.setActive(this.knex, eventKey, isActive);
    if (!event) throw new EventNotFoundError();
    this.switches.switched(eventKey, isActive);
    const now = this.clock.now();
    const today = await this.events.issuedOnDay(this.knex, [event.id], kstDay(now));
    return toEventView(event, today.get(event.id) ?? 0, now);
  }
}
