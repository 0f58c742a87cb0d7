import { Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { EventKeyTakenError } from '../common/errors/domain-errors';
import { truncateToSecond } from '../common/time';
import { isUniqueViolation } from '../database/pg-errors';
import { EventModel } from './event.model';
import type { EventChanges } from './event-rules';
import type { CreateEventInput } from './event.schemas';

/** Data access for events and their per-KST-day counts. Every method works on the connection or transaction it is given. */
@Injectable()
export class EventsRepository {
  async insert(db: Knex, input: CreateEventInput, createdAt: Date): Promise<EventModel> {
    try {
      return await EventModel.query(db)
        .insert({ ...input, issuedCount: 0, isActive: true, createdAt })
        .returning('*');
    } catch (error) {
      if (isUniqueViolation(error, 'events_event_key_unique')) throw new EventKeyTakenError();
      throw error;
    }
  }

  async findByKey(db: Knex, eventKey: string): Promise<EventModel | undefined> {
    return EventModel.query(db).findOne({ eventKey });
  }

  /** Events inside their period and switched on at `now`, oldest start first (or the newest `limit`). */
  async listOpenAt(db: Knex, now: Date, newest?: { limit: number }): Promise<EventModel[]> {
    const second = truncateToSecond(now);
    const direction = newest ? 'desc' : 'asc';
    const query = EventModel.query(db)
      .where('isActive', true)
      .where('startAt', '<=', second)
      .where('endAt', '>=', second)
      .orderBy('startAt', direction)
      .orderBy('id', direction);
    return newest ? query.limit(newest.limit) : query;
  }

  /** Writes a correction (or a switch); the row as committed. */
  async update(db: Knex, id: number, changes: EventChanges): Promise<EventModel> {
    const [event] = await EventModel.query(db).patch(changes).where({ id }).returning('*');
    return event;
  }

  /**
   * A corrected daily cap, from `day` (KST) on: each day's row keeps its cap so the database itself refuses a
   * day over it, and the days before keep the cap they had.
   */
  async setDailyCapFrom(
    db: Knex,
    eventId: number,
    day: string,
    dailyLimit: number | null,
  ): Promise<void> {
    await db('eventDailyCounts')
      .update({ dailyLimit })
      .where('eventId', eventId)
      .where('kstDay', '>=', day);
  }

  /**
   * Events with their count for `day` (KST), in one statement: those named by `ids` or `eventKey`, and when
   * `window` is given, those switched on whose period touches it (`listed`: the candidates of GET /events).
   */
  async readWithDayCounts(
    db: Knex,
    day: string,
    named: { ids: number[]; eventKey?: string },
    window?: { from: Date; until: Date },
  ): Promise<Array<{ event: EventModel; today: number; listed: boolean }>> {
    const listed = db.raw(
      '(e.is_active AND e.start_at <= ?::timestamptz AND e.end_at >= ?::timestamptz)',
      [window?.until ?? null, window?.from ?? null],
    );
    const rows: Array<Record<string, unknown> & { today: number; listed: boolean | null }> =
      await db('events as e')
        .leftJoin('eventDailyCounts as d', (join) =>
          join.on('d.eventId', 'e.id').andOn('d.kstDay', db.raw('?::date', [day])),
        )
        // Only the conditions asked for: a first read of one event is a lookup by its unique key.
        .where((where) => {
          void where.whereRaw('false');
          if (named.ids.length > 0) void where.orWhereIn('e.id', named.ids);
          if (window) void where.orWhere(listed);
          if (named.eventKey !== undefined) void where.orWhere('e.eventKey', named.eventKey);
        })
        .select(
          'e.*',
          db.raw('coalesce(d.issued_count, 0) AS today'),
          db.raw('? AS listed', [listed]),
        );
    return rows.map(({ today, listed: isListed, ...event }) => ({
      event: EventModel.fromDatabaseJson(event),
      today,
      listed: isListed === true,
    }));
  }

  /** Tickets issued on `day` (KST) per event id; events with none are absent. */
  async issuedOnDay(db: Knex, eventIds: number[], day: string): Promise<Map<number, number>> {
    if (eventIds.length === 0) return new Map();
    const rows = await db<{ eventId: number; issuedCount: number }>('eventDailyCounts')
      .select('eventId', 'issuedCount')
      .whereIn('eventId', eventIds)
      .where('kstDay', day);
    return new Map(rows.map((row) => [row.eventId, row.issuedCount]));
  }
}
