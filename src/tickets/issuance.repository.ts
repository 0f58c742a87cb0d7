import { Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { isUniqueViolation } from '../database/pg-errors';
import { EventModel } from '../events/event.model';
import type { StoredResponse } from '../idempotency/idempotency-claim';
import {
  KEY_ORDER,
  RECORD_JSON,
  RecordJson,
  recordOf,
} from '../idempotency/idempotency.repository';
import type { ClaimTiming, IdempotentRequest, KeyRecord } from '../idempotency/idempotency-rules';
import { ConcurrentIssuanceError } from './concurrent-issuance.error';
import type { HeldTicket } from './issuance-policy';

export interface IssuanceSnapshot {
  event: EventModel | undefined;
  /** Tickets the batch's users already hold for this event, by userId. */
  held: Map<number, HeldTicket>;
  /** Tickets issued for this event on the batch's KST day. */
  issuedToday: number;
  /** The records of the batch's Idempotency-Keys, by key. */
  keys: Map<string, KeyRecord>;
}

export interface IssuanceWrites {
  event: EventModel;
  day: string;
  tickets: HeldTicket[];
}

/**
 * The data access of one issuance batch, in two statements: everything the decision reads, and everything
 * it writes. Under a surge each round trip waits behind thousands of HTTP requests on the event loop, so a
 * batch costs its number of statements; these two replace nine.
 */
@Injectable()
export class IssuanceRepository {
  async read(
    db: Knex,
    eventKey: string,
    userIds: number[],
    day: string,
    keys: string[],
  ): Promise<IssuanceSnapshot> {
    const { rows } = await db.raw<{ rows: Array<Record<string, unknown>> }>(
      `WITH e AS (SELECT * FROM events WHERE event_key = ?)
       SELECT
         (SELECT jsonb_build_object(
            'id', id, 'eventKey', event_key, 'name', name, 'totalQuantity', total_quantity,
            'dailyLimit', daily_limit, 'issuedCount', issued_count, 'isActive', is_active,
            'startAt', start_at, 'endAt', end_at, 'createdAt', created_at) FROM e) AS event,
         (SELECT coalesce(jsonb_agg(jsonb_build_object(
            'ticketId', t.id, 'userId', t.user_id, 'issuedAt', t.issued_at)), '[]'::jsonb)
            FROM tickets t
           WHERE t.event_id = (SELECT id FROM e)
             AND t.user_id IN (SELECT jsonb_array_elements_text(?::jsonb)::bigint)) AS held,
         (SELECT d.issued_count FROM event_daily_counts d
           WHERE d.event_id = (SELECT id FROM e) AND d.kst_day = ?::date) AS today,
         (SELECT coalesce(jsonb_agg(${RECORD_JSON}), '[]'::jsonb)
            FROM idempotency_keys k
           WHERE k.idempotency_key IN (SELECT jsonb_array_elements_text(?::jsonb))) AS keys`,
      [eventKey, JSON.stringify(userIds), day, JSON.stringify(keys)],
    );
    const row = rows[0] as {
      event: Record<string, unknown> | null;
      held: Array<{ ticketId: string; userId: number; issuedAt: string }>;
      today: number | null;
      keys: RecordJson[];
    };
    return {
      event: row.event
        ? EventModel.fromJson(
            {
              ...row.event,
              startAt: new Date(row.event.startAt as string),
              endAt: new Date(row.event.endAt as string),
              createdAt: new Date(row.event.createdAt as string),
            },
            { skipValidation: true },
          )
        : undefined,
      held: new Map(
        row.held.map((t) => [t.userId, { ...t, issuedAt: new Date(t.issuedAt) }] as const),
      ),
      issuedToday: row.today ?? 0,
      keys: new Map(row.keys.map((json) => [json.idempotencyKey, recordOf(json)])),
    };
  }

  /**
   * Writes the batch: new tickets, the event's and the day's counts, and every decided keyed request with its
   * answer. Each key was judged claimable on this transaction's snapshot; a key another transaction wrote
   * meanwhile makes PostgreSQL refuse the ON CONFLICT update under SERIALIZABLE (40001), so the batch runs
   * again and judges it anew. Throws ConcurrentIssuanceError (retryable) when another transaction issued to
   * one of the users first. The keys go in in key order (KEY_ORDER), as the group commit's do.
   */
  async write(
    db: Knex,
    writes: IssuanceWrites | undefined,
    answered: ReadonlyArray<{ request: IdempotentRequest; response: StoredResponse }>,
    timing: ClaimTiming,
  ): Promise<void> {
    const tickets = writes?.tickets ?? [];
    const count = tickets.length;
    const keyRows = answered.map(({ request, response }) => ({
      key: request.key,
      method: request.fingerprint.method,
      path: request.fingerprint.path,
      requestHash: request.fingerprint.requestHash,
      status: response.status,
      headers: response.headers,
      body: response.body,
    }));
    if (count === 0 && keyRows.length === 0) return;
    try {
      await db.raw(
        `WITH new_tickets AS (
           INSERT INTO tickets (id, event_id, user_id, issued_at, kst_day)
           SELECT (t->>'ticketId')::uuid, ?::bigint, (t->>'userId')::bigint, (t->>'issuedAt')::timestamptz,
                  ?::date
             FROM jsonb_array_elements(?::jsonb) t
         ),
         event_total AS (
           UPDATE events SET issued_count = issued_count + ?::int WHERE id = ?::bigint AND ?::int > 0
         ),
         day_total AS (
           INSERT INTO event_daily_counts (event_id, kst_day, issued_count, daily_limit)
           SELECT ?::bigint, ?::date, ?::int, ?::int WHERE ?::int > 0
           ON CONFLICT (event_id, kst_day)
           DO UPDATE SET issued_count = event_daily_counts.issued_count + excluded.issued_count
         ),
         answered AS (
           INSERT INTO idempotency_keys AS k
             (idempotency_key, method, path, request_hash, response_status, response_headers, response_body,
              created_at, expires_at)
           SELECT a->>'key', a->>'method', a->>'path', a->>'requestHash', (a->>'status')::smallint,
                  a->'headers', a->>'body', ?::timestamptz, ?::timestamptz
             FROM jsonb_array_elements(?::jsonb) a
            ${KEY_ORDER}
           ON CONFLICT (idempotency_key) DO UPDATE
             SET method = excluded.method, path = excluded.path, request_hash = excluded.request_hash,
                 lock_token = NULL, locked_at = NULL, response_status = excluded.response_status,
                 response_headers = excluded.response_headers, response_body = excluded.response_body,
                 created_at = excluded.created_at, expires_at = excluded.expires_at
         )
         SELECT 1`,
        [
          writes?.event.id ?? null,
          writes?.day ?? null,
          JSON.stringify(tickets),
          count,
          writes?.event.id ?? null,
          count,
          writes?.event.id ?? null,
          writes?.day ?? null,
          count,
          writes?.event.dailyLimit ?? null,
          count,
          timing.now,
          timing.expiresAt,
          JSON.stringify(keyRows),
        ],
      );
    } catch (error) {
      // Another transaction issued to the same user first: the retry will find that ticket.
      if (isUniqueViolation(error, 'tickets_one_per_user_per_event')) {
        throw new ConcurrentIssuanceError();
      }
      throw error;
    }
  }
}
