import { Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { isUniqueViolation } from '../database/pg-errors';
import { ConcurrentIssuanceError } from './concurrent-issuance.error';
import type { HeldTicket } from './issuance-policy';
import { TicketModel } from './ticket.model';

export interface UserTicketRow {
  ticketId: string;
  eventKey: string;
  eventName: string;
  issuedAt: Date;
}

@Injectable()
export class TicketsRepository {
  async findHeld(db: Knex, eventId: number, userIds: number[]): Promise<Map<number, HeldTicket>> {
    const rows = await TicketModel.query(db)
      .select('id', 'userId', 'issuedAt')
      .where('eventId', eventId)
      .whereIn('userId', userIds);
    return new Map(
      rows.map((row) => [
        row.userId,
        { ticketId: row.id, userId: row.userId, issuedAt: row.issuedAt },
      ]),
    );
  }

  async insertMany(
    db: Knex,
    eventId: number,
    kstDay: string,
    tickets: HeldTicket[],
  ): Promise<void> {
    if (tickets.length === 0) return;
    try {
      await db('tickets').insert(
        tickets.map((ticket) => ({
          id: ticket.ticketId,
          eventId,
          userId: ticket.userId,
          issuedAt: ticket.issuedAt,
          kstDay,
        })),
      );
    } catch (error) {
      // Another transaction issued to the same user first: the retry will find that ticket.
      if (isUniqueViolation(error, 'tickets_one_per_user_per_event')) {
        throw new ConcurrentIssuanceError();
      }
      throw error;
    }
  }

  listByUser(db: Knex, userId: number): Promise<UserTicketRow[]> {
    return db('tickets as t')
      .join('events as e', 'e.id', 't.eventId')
      .where('t.userId', userId)
      .orderBy([
        { column: 't.issuedAt', order: 'desc' },
        { column: 't.id', order: 'desc' },
      ])
      .select('t.id as ticketId', 'e.eventKey', 'e.name as eventName', 't.issuedAt');
  }
}
