import { Body, Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { JoiPipe } from '../common/joi.pipe';
import { positiveIdParam } from '../common/validation';
import { eventKeySchema } from '../events/event.schemas';
import { IdempotentRequestOf, prepareReplay } from '../idempotency/idempotency-hooks';
import type { IdempotentRequest } from '../idempotency/idempotency-rules';
import { WithRouteFlags } from '../common/route-flags';
import { addRequestLogFields } from '../logging/request-log';
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
  @Post('events/:eventKey/tickets')
  @WithRouteFlags({ throttlePerUser: true, idempotencyInTransaction: true })
  async issueTicket(
    @Param('eventKey', new JoiPipe(eventKeySchema)) eventKey: string,
    @Body(new JoiPipe(issueTicketSchema)) { userId }: IssueTicketInput,
    @IdempotentRequestOf() idempotent: IdempotentRequest | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TicketView | string> {
    const { answer, retries } = await this.issuance.issue(eventKey, { userId, idempotent });
    addRequestLogFields(request, { issuance: { outcome: answer.kind, eventKey, retries } });
    switch (answer.kind) {
      case 'replay':
        return prepareReplay(reply, answer.response);
      case 'refused':
      case 'not-found':
        throw answer.error;
      default:
        void reply.status(answer.status);
        return answer.body;
    }
  }

  /** The user's tickets, newest first. */
  @Get('users/:userId/tickets')
  listUserTickets(
    @Param('userId', new JoiPipe(positiveIdParam('userId'))) userId: number,
  ): Promise<UserTicketView[]> {
    return this.tickets.listUserTickets(userId);
  }
}
