import { Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import type { HeldTicket } from './issuance-policy';

export interface UserTicketRow {
  ticketId: string;
  eventKey: string;
  eventName: string;
  issuedAt: Date;
}

@Injectable()
export class TicketsRepository {
  /** Every ticket of an event (its holders), as issuance decides with them. */
  async listHolders(db: Knex, eventId: number): Promise<HeldTicket[]> {
    return db('tickets')
      .where({ eventId })
      .select('id as ticketId', 'userId', 'issuedAt') as Promise<HeldTicket[]>;
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
