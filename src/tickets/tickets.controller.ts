import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ApiOperationDoc, BAD_INPUT, OTHER_USER, USER_TOKEN_REFUSED } from '../openapi/api-docs';
import * as schemas from '../openapi/schemas';
import * as Joi from 'joi';
import { positiveIdParam } from '../common/validation';
import { ValidInput, routeInput } from '../http/route-input';
import { WithRouteFlags } from '../common/route-flags';
import { TicketsService } from './tickets.service';

@ApiTags('tickets')
@Controller()
export class TicketsController {
  constructor(private readonly tickets: TicketsService) {}

  /** The user's tickets, newest first. */
  @Get('users/:userId/tickets')
  @WithRouteFlags({
    userToken: 'params',
    input: routeInput({ params: Joi.object({ userId: positiveIdParam('userId') }) }),
  })
  @ApiBearerAuth('userJwt')
  @ApiOperationDoc({
    summary: "A user's tickets, newest first ([] for none)",
    params: { userId: schemas.userIdParam },
    outcomes: {
      200: { description: 'Tickets', schema: { type: 'array', items: schemas.userTicket } },
      400: BAD_INPUT,
      401: USER_TOKEN_REFUSED,
      403: OTHER_USER,
    },
  })
  async listUserTickets(
    @ValidInput('params') { userId }: { userId: number },
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    // One person's tickets: kept by no cache, a shared one least of all (with end-user tokens, nor a browser's).
    void reply.header('cache-control', 'private, no-store');
    const body = await this.tickets.listUserTickets(userId);
    void reply.type('application/json; charset=utf-8');
    return body;
  }
}
