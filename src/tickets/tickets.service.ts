import { Inject, Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { KNEX } from '../database/database.module';
import { UserTicketView, toUserTicketView } from './ticket.views';
import { TicketsRepository } from './tickets.repository';

/** Use case: list a user's tickets. */
@Injectable()
export class TicketsService {
  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    private readonly tickets: TicketsRepository,
  ) {}

  async listUserTickets(userId: number): Promise<UserTicketView[]> {
    return (await this.tickets.listByUser(this.knex, userId)).map(toUserTicketView);
  }
}
