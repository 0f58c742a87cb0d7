import { Inject, Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { ServiceUnavailableError } from '../common/errors/domain-errors';
import { KeyedBatcher } from '../common/keyed-batcher';
import { KNEX } from '../database/database.module';
import { isDatabaseUnavailable } from '../database/pg-errors';
import { TicketsRepository } from './tickets.repository';

/** Most users one query answers, and most waiting for one (past it a fast 503). */
const USERS_PER_QUERY = 500;
const USERS_QUEUED_MAX = 20_000;

/**
 * Use case: list a user's tickets. The users asking at the same moment are answered by one query (the
 * requests of one turn of the event loop, and those arriving while the previous query runs): under a storm
 * of "my tickets" the database sees a few statements a second instead of one per request.
 */
@Injectable()
export class TicketsService {
  private readonly reads: KeyedBatcher<number, string>;

  constructor(@Inject(KNEX) knex: Knex, tickets: TicketsRepository) {
    this.reads = new KeyedBatcher((_, userIds) => tickets.listByUsersAsJson(knex, userIds), {
      maxBatch: USERS_PER_QUERY,
      maxQueued: USERS_QUEUED_MAX,
      overflowError: () => new ServiceUnavailableError(),
      failsQueue: isDatabaseUnavailable,
    });
  }

  /** The answer's JSON text, newest first (`[]` for none). */
  listUserTickets(userId: number): Promise<string> {
    return this.reads.submit('', userId);
  }
}
