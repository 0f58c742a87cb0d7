import { Injectable } from '@nestjs/common';
import type { Knex } from 'knex';

export interface UserTicketRow {
  ticketId: string;
  eventKey: string;
  eventName: string;
  issuedAt: Date;
}

@Injectable()
export class TicketsRepository {
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
