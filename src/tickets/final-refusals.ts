import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Knex } from 'knex';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { kstDay } from '../common/time';
import { KNEX } from '../database/database.module';
import { EventModel } from '../events/event.model';
import { EventUpdates } from '../events/event-updates';
import { EventsRepository } from '../events/events.repository';
import { decideIssuance, HeldTicket, IssuanceDecision } from './issuance-policy';
import { TicketsRepository } from './tickets.repository';

/** A settled event's row (what a PATCH can still change: its switch, its corrections) is re-read when older than this. */
const ROW_REREAD_MS = 500;
/** Local PATCHes older than this cannot make a holders load stale any more (it takes far less). */
const UPDATES_REMEMBERED_MS = 60_000;

/** An event whose refusal of everyone without a ticket is final, kept in memory with its holders. */
interface SettledEvent {
  /** This process's copy; only its correctable fields change (a PATCH here, or a re-read). */
  event: EventModel;
  /** Undefined: sold out for good. Otherwise today's cap is reached: the KST day that holds for. */
  cappedDay: string | undefined;
  holders: ReadonlyMap<number, HeldTicket>;
  /** When the row was last read from the database, or updated by a PATCH here (performance.now()). */
  rowReadAt: number;
  rereading?: Promise<void>;
}

/**
 * The sold-out majority of a drop, answered from memory. "Sold out" is final — tickets are never taken back,
 * and a correction never raises the total of a sold-out event — and "today's cap reached" is final until the
 * next 00:00 KST (a correction never raises or removes a cap reached today; events/event-rules.ts). Once a
 * batch has seen one of those (issuance.service), this process loads the event's holders once and decides
 * every later request for it with the same rules the batches use (issuance-policy.ts), in the same order:
 * switched off → outside the period → sold out → today's cap, a holder always getting their ticket. The
 * period is checked against the clock. What a PATCH can still change — the switch, the period's end, the
 * total (down to the count), the name — is honoured within a second: a PATCH on this process applies at once
 * (EventUpdates), other processes' PATCHes are seen by re-reading the row when it is older than
 * ROW_REREAD_MS (one query per event every half second at most, whatever the traffic). A holder's ticket
 * needs no row: it is answered even while the database is away. At most SETTLED_EVENT_MAX_HOLDERS holders
 * are kept, over all events: the events settled longest ago make room.
 */
@Injectable()
export class FinalRefusals {
  private readonly logger = new Logger(FinalRefusals.name);
  private readonly settled = new Map<string, SettledEvent>();
  private readonly loading = new Set<string>();
  /** Holders kept, over all settled events. */
  private holdersKept = 0;
  /** When each event was last switched or corrected on this process: a row read before that is stale. */
  private readonly updatedAt = new Map<string, number>();

  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly events: EventsRepository,
    private readonly tickets: TicketsRepository,
    updates: EventUpdates,
  ) {
    updates.onUpdated((event) => {
      const now = performance.now();
      for (const [key, at] of this.updatedAt) {
        if (now - at > UPDATES_REMEMBERED_MS) this.updatedAt.delete(key);
      }
      this.updatedAt.set(event.eventKey, now);
      const settled = this.settled.get(event.eventKey);
      if (settled) {
        settled.event.takeCorrectionsFrom(event);
        settled.rowReadAt = now;
      }
    });
  }

  /** Events answered from memory now (for metrics and tests). */
  get size(): number {
    return this.settled.size;
  }

  /**
   * After a committed batch, with the event and today's count as the batch left them: when its refusals
   * became final, its holders are loaded in the background; until they are, the database decides.
   */
  noteBatch(event: EventModel, issuedToday: number, day: string, readAt: number): void {
    const soldOut = event.remainingQuantity <= 0;
    const capped = event.dailyLimit !== null && issuedToday >= event.dailyLimit;
    if (!soldOut && !capped) return;
    const cappedDay = soldOut ? undefined : day;
    const known = this.settled.get(event.eventKey);
    if (known && (known.cappedDay === undefined || known.cappedDay === cappedDay)) return;
    if (
      this.loading.has(event.eventKey) ||
      event.issuedCount > this.config.issuance.settledMaxHolders
    ) {
      return;
    }
    this.loading.add(event.eventKey);
    this.tickets
      .listHolders(this.knex, event.id)
      .then((holders) => {
        // A PATCH here after the batch read the row (even before this load began) makes it stale.
        const stale = (this.updatedAt.get(event.eventKey) ?? -Infinity) >= readAt;
        this.forget(event.eventKey);
        this.makeRoom(holders.length);
        this.logger.log(
          { eventKey: event.eventKey, holders: holders.length, soldOut: cappedDay === undefined },
          cappedDay === undefined
            ? 'sold out: answered from memory from now on'
            : "today's cap reached: answered from memory until 00:00 KST",
        );
        this.settled.set(event.eventKey, {
          event: EventModel.fromJson({ ...event }, { skipValidation: true }),
          cappedDay,
          holders: new Map(holders.map((holder) => [holder.userId, holder])),
          rowReadAt: stale ? -Infinity : readAt,
        });
        this.holdersKept += holders.length;
      })
      // Not loaded (the database is away): the next batch tries again.
      .catch(() => undefined)
      .finally(() => this.loading.delete(event.eventKey));
  }

  private forget(eventKey: string): void {
    const settled = this.settled.get(eventKey);
    if (!settled) return;
    this.holdersKept -= settled.holders.size;
    this.settled.delete(eventKey);
  }

  /** Forgets the events settled longest ago until `holders` more fit the budget. */
  private makeRoom(holders: number): void {
    for (const eventKey of this.settled.keys()) {
      if (this.holdersKept + holders <= this.config.issuance.settledMaxHolders) return;
      this.forget(eventKey);
    }
  }

  /**
   * The decision from memory, or undefined when the database must decide: the event is not settled here,
   * its cap was for a KST day now past, or the user holds a ticket and sent an Idempotency-Key (the answer
   * stored for that key, 201 or 200, is the one to give).
   */
  async decide(
    eventKey: string,
    userId: number,
    keyed: boolean,
    now: Date,
  ): Promise<IssuanceDecision | undefined> {
    const settled = this.settled.get(eventKey);
    if (!settled) return undefined;
    if (settled.cappedDay !== undefined && settled.cappedDay !== kstDay(now)) {
      this.forget(eventKey);
      return undefined;
    }
    const holder = settled.holders.has(userId);
    // A holder who sent a key: the answer stored for it (201, or 200) is the one to give.
    if (holder && keyed) return undefined;
    // A holder gets their ticket whatever the row says (the rules' first): it needs no fresh row.
    if (!holder && performance.now() - settled.rowReadAt > ROW_REREAD_MS) {
      await this.reread(settled);
    }
    const issuedToday = settled.cappedDay === undefined ? 0 : (settled.event.dailyLimit ?? 0);
    const [decision] = decideIssuance(
      settled.event,
      { held: settled.holders, issuedToday },
      [userId],
      now,
    );
    // Never an issuance: the total or today's cap is reached. Should the rules ever say otherwise, the
    // database decides.
    return decision.kind === 'issued' ? undefined : decision;
  }

  /** Re-reads the row, once for every request that needs it meanwhile; a failure fails them (503). */
  private reread(settled: SettledEvent): Promise<void> {
    settled.rereading ??= (async () => {
      const startedAt = performance.now();
      try {
        const current = await this.events.findByKey(this.knex, settled.event.eventKey);
        // Not older than a PATCH here that landed while it was read.
        if (current && startedAt > settled.rowReadAt) settled.event.takeCorrectionsFrom(current);
        settled.rowReadAt = Math.max(settled.rowReadAt, startedAt);
      } finally {
        settled.rereading = undefined;
      }
    })();
    return settled.rereading;
  }
}
