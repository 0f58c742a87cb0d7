import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyRoute } from '../http/fastify-route';
import { idempotentRequestOf, prepareReplay } from '../idempotency/idempotency-hooks';
import { addRequestLogFields } from '../logging/request-log';
import {
  EVENT_KEY_TOO_LONG,
  OTHER_USER,
  UNKNOWN_EVENT,
  USER_TOKEN_REFUSED,
} from '../openapi/api-docs';
import * as schemas from '../openapi/schemas';
import { TicketIssuanceService } from './ticket-issuance.service';
import { IssueTicketInput, IssueTicketParams, issueTicketSchema } from './ticket.schemas';
import { issuanceOutcomeOf, reasonOf, responseOf } from './ticket-answers';

type IssueTicketRequest = FastifyRequest<{ Params: IssueTicketParams; Body: IssueTicketInput }>;

/**
 * `POST /events/:eventKey/tickets`: 201 with a new ticket, 200 with the ticket the user already holds. The
 * opening second's route, served by Fastify itself (http/fastify-route.ts): tens of thousands of these a
 * second, nine in ten answered from memory, so the request's own layers are most of its cost.
 */
@Injectable()
export class IssueTicketRoute implements FastifyRoute<IssueTicketParams, IssueTicketInput> {
  readonly method = 'POST';
  readonly url = '/events/:eventKey/tickets';
  readonly schema = issueTicketSchema;
  readonly flags = {
    throttlePerUser: true,
    idempotencyInTransaction: true,
    userToken: 'body',
  } as const;
  readonly doc = {
    // The id Nest gave it when a controller served it: clients generated from the document keep their names.
    operationId: 'TicketsController_issueTicket',
    summary: 'Ask for a golden ticket: 201 new, 200 the one the user already holds',
    tag: 'tickets',
    bearer: 'userJwt',
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
          ...EVENT_KEY_TOO_LONG,
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
  };

  constructor(private readonly issuance: TicketIssuanceService) {}

  async handle(request: IssueTicketRequest, reply: FastifyReply): Promise<string> {
    const { eventKey } = request.params;
    const { userId } = request.body;
    const { answer, retries } = await this.issuance.issue(eventKey, {
      userId,
      idempotent: idempotentRequestOf(request),
    });
    addRequestLogFields(request, {
      issuance: { outcome: issuanceOutcomeOf(answer), eventKey, retries },
      reason: reasonOf(answer),
    });
    if (answer.kind === 'replay') return prepareReplay(reply, answer.response);
    // Refusals too: they are answers of this route, not failures to throw (the same bytes as stored).
    const response = responseOf(answer);
    void reply.status(response.status).headers(response.headers);
    return response.body;
  }
}
