import { Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import type { HeldTicket } from './issuance-policy';

@Injectable()
export class TicketsRepository {
  /** Every ticket of an event (its holders), as issuance decides with them. */
  async listHolders(db: Knex, eventId: number): Promise<HeldTicket[]> {
    return db('tickets')
      .where({ eventId })
      .select('id as ticketId', 'userId', 'issuedAt') as Promise<HeldTicket[]>;
  }

  /**
   * A user's tickets as the answer's JSON text, newest first — built by PostgreSQL in one statement, so the
   * process only passes the bytes on. Byte for byte what JSON.stringify of the views gave: compact, keys in
   * the view's order, strings escaped by to_json (the same escapes for everything the columns can hold),
   * issuedAt in the wire format (toWireTimestamp: UTC, whole seconds truncated, Z).
   */
  async listByUserAsJson(db: Knex, userId: number): Promise<string> {
    const { rows } = await db.raw<{ rows: Array<{ body: string }> }>(
      `SELECT '[' || coalesce(string_agg(
                '{"ticketId":"' || t.id || '","eventKey":' || to_json(e.event_key)::text ||
                ',"eventName":' || to_json(e.name)::text ||
                ',"issuedAt":"' || to_char(t.issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || 'Z"}',
                ',' ORDER BY t.issued_at DESC, t.id DESC), '') || ']' AS body
         FROM tickets t JOIN events e ON e.id = t.event_id
        WHERE t.user_id = ?`,
      [userId],
    );
    return rows[0].body;
  }
}
