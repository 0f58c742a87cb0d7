import { Body, Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { JoiPipe } from '../common/joi.pipe';
import {
  ApiOperationDoc,
  BAD_INPUT,
  OTHER_USER,
  UNKNOWN_EVENT,
  USER_TOKEN_REFUSED,
} from '../openapi/api-docs';
import * as schemas from '../openapi/schemas';
import { positiveIdParam } from '../common/validation';
import { eventKeySchema } from '../events/event.schemas';
import { IdempotentRequestOf, prepareReplay } from '../idempotency/idempotency-hooks';
import type { IdempotentRequest } from '../idempotency/idempotency-rules';
import { WithRouteFlags } from '../common/route-flags';
import { addRequestLogFields } from '../logging/request-log';
import { TicketIssuanceService } from './ticket-issuance.service';
import { IssueTicketInput, issueTicketSchema } from './ticket.schemas';
import { issuanceOutcomeOf, responseOf } from './ticket-answers';
import { TicketsService } from './tickets.service';

@ApiTags('tickets')
@Controller()
export class TicketsController {
  constructor(
    private readonly issuance: TicketIssuanceService,
    private readonly tickets: TicketsService,
  ) {}

  /** 201 with a new ticket, 200 with the ticket the user already holds. */
  @Post('events/:eventKey/tickets')
  @ApiBearerAuth('userJwt')
  @ApiOperationDoc({
    summary: 'Ask for a golden ticket: 201 new, 200 the one the user already holds',
    body: schemas.issueTicketBody,
    idempotent: true,
    outcomes: {
      201: { description: 'Issued', schema: schemas.ticket },
      200: { description: 'Already held: the same ticket again', schema: schemas.ticket },
      400: {
        description: 'Outside the period, switched off, or bad input',
        examples: {
          outsidePeriod: '이벤트 기간이 아닙니다.',
          switchedOff: '현재 발급이 중단된 이벤트입니다.',
          badUserId: 'userId은(는) 1 이상이어야 합니다.',
        },
      },
      401: USER_TOKEN_REFUSED,
      403: OTHER_USER,
      404: UNKNOWN_EVENT,
      409: {
        description: "Sold out or today's cap reached",
        examples: {
          soldOut: '티켓이 모두 소진되었습니다.',
          dailyLimitReached: '오늘의 발급 한도에 도달했습니다. 내일 다시 시도해주세요.',
        },
      },
    },
  })
  @WithRouteFlags({ throttlePerUser: true, idempotencyInTransaction: true, userToken: 'body' })
  async issueTicket(
    @Param('eventKey', new JoiPipe(eventKeySchema)) eventKey: string,
    @Body(new JoiPipe(issueTicketSchema)) { userId }: IssueTicketInput,
    @IdempotentRequestOf() idempotent: IdempotentRequest | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const { answer, retries } = await this.issuance.issue(eventKey, { userId, idempotent });
    addRequestLogFields(request, {
      issuance: { outcome: issuanceOutcomeOf(answer), eventKey, retries },
    });
    if (answer.kind === 'replay') return prepareReplay(reply, answer.response);
    // Refusals too: they are answers of this route, not failures to throw (the same bytes as stored).
    const response = responseOf(answer);
    void reply.status(response.status).headers(response.headers);
    return response.body;
  }

  /** The user's tickets, newest first. */
  @Get('users/:userId/tickets')
  @WithRouteFlags({ userToken: 'params' })
  @ApiBearerAuth('userJwt')
  @ApiOperationDoc({
    summary: "A user's tickets, newest first ([] for none)",
    outcomes: {
      200: { description: 'Tickets', schema: { type: 'array', items: schemas.userTicket } },
      400: BAD_INPUT,
      401: USER_TOKEN_REFUSED,
      403: OTHER_USER,
    },
  })
  async listUserTickets(
    @Param('userId', new JoiPipe(positiveIdParam('userId'))) userId: number,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    // One person's tickets: kept by no cache, a shared one least of all (with end-user tokens, nor a browser's).
    void reply.header('cache-control', 'private, no-store');
    const body = await this.tickets.listUserTickets(userId);
    void reply.type('application/json; charset=utf-8');
    return body;
  }
}
