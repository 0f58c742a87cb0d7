import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { Clock } from '../clock/clock';
import { kstDay, truncateToSecond } from '../common/time';
import { KNEX } from '../database/database.module';
import type { EventModel } from './event.model';
import { toEventView } from './event.views';
import { EventUpdates } from './event-updates';
import { EventsRepository } from './events.repository';

/**
 * The freshness promised to readers (README, "Reads and their freshness"): every view sent reflects every
 * commit made at least this long before it was sent. It is also the `max-age` of the HTTP answers.
 */
export const VIEW_FRESHNESS_MS = 1_000;
/** While events are being read, one query re-reads them all when the last one is older than this. */
const REREAD_AFTER_MS = 500;
/** An event not read for this long is no longer re-read, and forgotten. */
const FORGET_AFTER_MS = 60_000;
/** GET /events keeps the events whose period touches the next minute, and picks the open ones by the clock. */
const LIST_WINDOW_MS = 60_000;

/** An answer's bytes and its strong ETag (a hash of those bytes). */
export interface CachedAnswer {
  body: string;
  etag: string;
}

interface Entry {
  /** The event as last known: counters only grow, the correctable fields (switch included) are the newest. */
  event: EventModel;
  /** The KST day `today` counts. */
  day: string;
  today: number;
  /** When the query that last read it was sent (performance.now()): it reflects every commit before. */
  syncedAt: number;
  /** As of when the correctable fields are known (a query's sending, a PATCH here): an older read must not undo them. */
  rowAt: number;
  readAt: number;
  rendered?: { open: boolean; answer: CachedAnswer };
}

interface CandidateList {
  entries: Entry[];
  from: number;
  until: number;
  syncedAt: number;
}

/**
 * The views of the events being read, per process, so GET /events/:eventKey and GET /events answer from
 * memory within VIEW_FRESHNESS_MS. What is known here applies at once: this process's committed batches
 * (their counts, exact at commit: batches of an event run one at a time across instances), and its PATCHes
 * (switches and corrections, with the row as committed) and creations. What other instances do is learned
 * by re-reading: while events are read, one query every REREAD_AFTER_MS at most re-reads all of them (and
 * the candidates of GET /events) in the background; a read finding its view older than VIEW_FRESHNESS_MS
 * waits for that query. Counters only grow, so a view merges by the larger count; once sold out, remaining
 * and today's count are final (a correction never raises a sold-out total). The correctable fields are
 * taken from the newest read. The clock decides the rest at each read: isActive is the flag AND inside the
 * period at `now`, and after 00:00 KST yesterday's count is never shown (a re-read for the new day is
 * awaited; a sold-out event's new day is 0).
 */
@Injectable()
export class EventViewsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry | undefined>>();
  private list?: CandidateList;
  private listReadAt = -Infinity;
  private rereading?: Promise<void>;

  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    private readonly clock: Clock,
    private readonly events: EventsRepository,
    updates: EventUpdates,
  ) {
    // A PATCH here applies at once: a re-read sent before it cannot undo it.
    updates.onUpdated((event) => {
      const entry = this.entries.get(event.eventKey);
      if (entry) {
        if (entry.event.takeCorrectionsFrom(event)) entry.rendered = undefined;
        entry.rowAt = performance.now();
      }
      this.noteListChanged();
    });
  }

  /** The view of one event, or undefined for an unknown one (never cached: it may be created any moment). */
  async view(eventKey: string): Promise<CachedAnswer | undefined> {
    const entry = this.entries.get(eventKey) ?? (await this.load(eventKey));
    if (!entry) return undefined;
    const started = performance.now();
    entry.readAt = started;
    for (;;) {
      const now = this.clock.now();
      if (!this.isStale(entry, started, kstDay(now))) {
        this.rereadSoon(entry.syncedAt, started);
        return this.render(entry, now);
      }
      await this.reread();
    }
  }

  /** The events running now (inside their period and switched on), oldest start first. */
  async running(): Promise<CachedAnswer> {
    const started = performance.now();
    this.listReadAt = started;
    let now = this.clock.now();
    while (this.listIsStale(started, now)) {
      await this.reread();
      now = this.clock.now();
    }
    const list = this.list!;
    this.rereadSoon(list.syncedAt, started);
    const body = `[${list.entries
      .filter((entry) => entry.event.isOpenAt(now))
      .map((entry) => this.render(entry, now).body)
      .join(',')}]`;
    return { body, etag: etagOf(body) };
  }

  /**
   * A committed batch's view of its event (counts exact at its commit). Only events cached here: the first
   * read of another loads it.
   */
  noteBatch(event: EventModel, issuedToday: number, day: string): void {
    const entry = this.entries.get(event.eventKey);
    if (entry) mergeCounts(entry, event.issuedCount, day, issuedToday);
  }

  /** An event was created or switched here: GET /events re-reads its candidates before its next answer. */
  noteListChanged(): void {
    if (this.list) this.list.syncedAt = -Infinity;
  }

  private isStale(entry: Entry, started: number, day: string): boolean {
    if (started - entry.syncedAt > VIEW_FRESHNESS_MS) return true;
    if (entry.day === day) return false;
    // A new KST day: yesterday's count must not be shown. Sold out, no ticket can count today.
    if (entry.event.remainingQuantity <= 0 && day > entry.day) {
      entry.day = day;
      entry.today = 0;
      entry.rendered = undefined;
      return false;
    }
    return true;
  }

  private listIsStale(started: number, now: Date): boolean {
    const list = this.list;
    if (!list || started - list.syncedAt > VIEW_FRESHNESS_MS) return true;
    const second = truncateToSecond(now).getTime();
    if (second < list.from || second > list.until) return true;
    const day = kstDay(now);
    return list.entries.some((entry) => this.isStale(entry, started, day));
  }

  /** Past REREAD_AFTER_MS, the next re-read starts in the background (readers keep being answered). */
  private rereadSoon(syncedAt: number, started: number): void {
    if (started - syncedAt > REREAD_AFTER_MS) void this.reread().catch(() => undefined);
  }

  /** The first read of an event here; concurrent first reads share one query. */
  private load(eventKey: string): Promise<Entry | undefined> {
    let loading = this.loading.get(eventKey);
    if (!loading) {
      const day = kstDay(this.clock.now());
      const sentAt = performance.now();
      loading = this.events
        .readWithDayCounts(this.knex, day, { ids: [], eventKey })
        .then(([row]) => row && this.absorb(row.event, day, row.today, sentAt))
        .finally(() => this.loading.delete(eventKey));
      this.loading.set(eventKey, loading);
    }
    return loading;
  }

  /**
   * One query for every event read here lately (and GET /events' candidates while it is read), shared by
   * everyone who needs it meanwhile. A failure fails those who wait for it (503); the next read tries again.
   */
  private reread(): Promise<void> {
    this.rereading ??= (async () => {
      const sentAt = performance.now();
      for (const [eventKey, entry] of this.entries) {
        if (sentAt - entry.readAt > FORGET_AFTER_MS) this.entries.delete(eventKey);
      }
      const now = this.clock.now();
      const day = kstDay(now);
      const from = truncateToSecond(now).getTime();
      const listing = sentAt - this.listReadAt <= FORGET_AFTER_MS;
      const rows = await this.events.readWithDayCounts(
        this.knex,
        day,
        { ids: [...this.entries.values()].map((entry) => entry.event.id) },
        listing ? { from: new Date(from), until: new Date(from + LIST_WINDOW_MS) } : undefined,
      );
      const listed: Entry[] = [];
      for (const row of rows) {
        const entry = this.absorb(row.event, day, row.today, sentAt);
        if (!row.listed) continue;
        // Read through GET /events: kept while it is.
        entry.readAt = Math.max(entry.readAt, this.listReadAt);
        listed.push(entry);
      }
      if (listing) {
        listed.sort(
          (a, b) =>
            a.event.startAt.getTime() - b.event.startAt.getTime() || a.event.id - b.event.id,
        );
        this.list = { entries: listed, from, until: from + LIST_WINDOW_MS, syncedAt: sentAt };
      }
    })().finally(() => (this.rereading = undefined));
    return this.rereading;
  }

  /** Merges what a query read (sent at `sentAt`) into the event's entry, creating it if new. */
  private absorb(event: EventModel, day: string, today: number, sentAt: number): Entry {
    const entry = this.entries.get(event.eventKey);
    if (!entry) {
      const created: Entry = {
        event,
        day,
        today,
        syncedAt: sentAt,
        rowAt: sentAt,
        readAt: performance.now(),
      };
      this.entries.set(event.eventKey, created);
      return created;
    }
    mergeCounts(entry, event.issuedCount, day, today);
    if (sentAt > entry.rowAt && entry.event.takeCorrectionsFrom(event)) entry.rendered = undefined;
    entry.rowAt = Math.max(entry.rowAt, sentAt);
    entry.syncedAt = Math.max(entry.syncedAt, sentAt);
    return entry;
  }

  /**
   * The view's bytes and ETag at `now`, rendered once per change of its counts, fields or openness (its
   * count is of now's KST day: isStale said so just before).
   */
  private render(entry: Entry, now: Date): CachedAnswer {
    const open = entry.event.isOpenAt(now);
    const rendered = entry.rendered;
    if (rendered && rendered.open === open) return rendered.answer;
    const body = JSON.stringify(toEventView(entry.event, entry.today, now));
    const answer = { body, etag: etagOf(body) };
    entry.rendered = { open, answer };
    return answer;
  }
}

/**
 * Counters only grow: of two counts of the same day the larger is the newer. A count of another day replaces
 * the entry's (the caller's is the latest read; should it be an older day, the next read sees it stale).
 */
function mergeCounts(entry: Entry, issuedCount: number, day: string, today: number): void {
  if (issuedCount > entry.event.issuedCount) {
    entry.event.issuedCount = issuedCount;
    entry.rendered = undefined;
  }
  if (day !== entry.day || today > entry.today) {
    entry.day = day;
    entry.today = today;
    entry.rendered = undefined;
  }
}

/** A strong ETag: the hash of the exact bytes. */
function etagOf(body: string): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}
