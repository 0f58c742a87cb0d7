import { Inject, Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { KNEX } from '../database/database.module';
import { TicketsRepository } from './tickets.repository';

/** Use case: list a user's tickets. */
@Injectable()
export class TicketsService {
  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    private readonly tickets: TicketsRepository,
  ) {}

  /** The answer's JSON text, newest first (`[]` for none), in one query. */
  listUserTickets(userId: number): Promise<string> {
    return this.tickets.listByUserAsJson(this.knex, userId);
  }
}
