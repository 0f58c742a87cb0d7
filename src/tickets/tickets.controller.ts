import { Body, Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { JoiPipe } from '../common/joi.pipe';
import { positiveIdParam } from '../common/validation';
import { eventKeySchema } from '../events/event.schemas';
import type { IdempotencyClaim } from '../idempotency/idempotency-claim';
import { IdempotencyClaimOf } from '../idempotency/idempotency-hooks';
import { addRequestLogFields } from '../logging/request-log';
import { ISSUE_TICKET_ROUTE } from '../throttling/surge-throttler';
import { TicketIssuanceService } from './ticket-issuance.service';
import { IssueTicketInput, issueTicketSchema } from './ticket.schemas';
import { TicketView, UserTicketView } from './ticket.views';
import { TicketsService } from './tickets.service';

@Controller()
export class TicketsController {
  constructor(
    private readonly issuance: TicketIssuanceService,
    private readonly tickets: TicketsService,
  ) {}

  /** 201 with a new ticket, 200 with the ticket the user already holds. */
  @Post(ISSUE_TICKET_ROUTE)
  async issueTicket(
    @Param('eventKey', new JoiPipe(eventKeySchema)) eventKey: string,
    @Body(new JoiPipe(issueTicketSchema)) { userId }: IssueTicketInput,
    @IdempotencyClaimOf() claim: IdempotencyClaim | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TicketView> {
    const { answer, retries } = await this.issuance.issue(eventKey, { userId, claim });
    addRequestLogFields(request, { issuance: { outcome: answer.kind, eventKey, retries } });
    if ('error' in answer) throw answer.error;
    void reply.status(answer.status);
    return answer.body;
  }

  /** The user's tickets, newest first. */
  @Get('users/:userId/tickets')
  listUserTickets(
    @Param('userId', new JoiPipe(positiveIdParam('userId'))) userId: number,
  ): Promise<UserTicketView[]> {
    return this.tickets.listUserTickets(userId);
  }
}
