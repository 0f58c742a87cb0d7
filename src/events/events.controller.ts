import { Controller, Get, HttpCode, Patch, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ValidInput, routeInput } from '../http/route-input';
import {
  ADMIN_ONLY,
  ApiOperationDoc,
  BAD_EVENT_INPUT,
  BAD_INPUT,
  CORRECTION_REFUSED,
  EVENT_KEY_TOO_LONG,
  UNKNOWN_EVENT,
} from '../openapi/api-docs';
import * as schemas from '../openapi/schemas';
import { WithRouteFlags } from '../common/route-flags';
import type { IdempotencyClaim } from '../idempotency/idempotency-claim';
import { IdempotencyClaimOf } from '../idempotency/idempotency-hooks';
import { AuditedBy, AuditedRequest } from './event-audit';
import {
  CorrectEventInput,
  CreateEventInput,
  correctEventSchema,
  createEventSchema,
  eventKeyParamsSchema,
} from './event.schemas';
import { CreatedEventView, EventView } from './event.views';
import { EventsService } from './events.service';
import { sendCacheable } from './cacheable-answer';

/** The caching of the two event reads, documented once for both. */
const IF_NONE_MATCH = ApiHeader({
  name: 'If-None-Match',
  required: false,
  description:
    'An ETag of an earlier answer: 304 without a body while the view is still those bytes.',
});
const NOT_MODIFIED = ApiResponse({
  status: 304,
  description:
    'Not Modified: the If-None-Match ETag is the current view (no body). Answers 200 and 304 carry ' +
    '`Cache-Control: public, max-age=1` (the stated freshness) and a strong `ETag`; errors carry ' +
    '`Cache-Control: no-store`.',
});

@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Post()
  @HttpCode(201)
  @WithRouteFlags({ admin: true, input: routeInput({ body: createEventSchema }) })
  @ApiBearerAuth('adminBearer')
  @ApiOperationDoc({
    summary: 'Create an event',
    body: schemas.createEventBody,
    idempotent: true,
    outcomes: {
      201: { description: 'Created', schema: schemas.createdEvent },
      400: BAD_EVENT_INPUT,
      401: ADMIN_ONLY,
      409: {
        description: 'eventKey taken',
        examples: { eventKeyTaken: '이미 존재하는 이벤트입니다.' },
      },
    },
  })
  createEvent(
    @ValidInput('body') input: CreateEventInput,
    @IdempotencyClaimOf() claim: IdempotencyClaim | undefined,
    @AuditedBy() by: AuditedRequest,
  ): Promise<CreatedEventView> {
    return this.events.createEvent(input, claim, by);
  }

  /** The events running now: inside their period and switched on. */
  @Get()
  @ApiOperationDoc({
    summary: 'The events running now (inside their period and switched on)',
    outcomes: {
      200: { description: 'Running events', schema: { type: 'array', items: schemas.event } },
    },
  })
  @IF_NONE_MATCH
  @NOT_MODIFIED
  async listRunningEvents(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string | undefined> {
    return sendCacheable(request, reply, await this.events.listRunningEvents());
  }

  @Get(':eventKey')
  @WithRouteFlags({ input: routeInput({ params: eventKeyParamsSchema }) })
  @ApiOperationDoc({
    summary: 'One event, with remainingQuantity and todayIssuedCount (KST day)',
    params: { eventKey: schemas.eventKey },
    outcomes: {
      200: { description: 'The event', schema: schemas.event },
      400: { ...BAD_INPUT, examples: { ...BAD_INPUT.examples, ...EVENT_KEY_TOO_LONG } },
      404: UNKNOWN_EVENT,
    },
  })
  @IF_NONE_MATCH
  @NOT_MODIFIED
  async getEvent(
    @ValidInput('params') { eventKey }: { eventKey: string },
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string | undefined> {
    // Until the view is known: a 404 (the event may be created the next moment) or 503 is kept by no cache.
    void reply.header('cache-control', 'no-store');
    return sendCacheable(request, reply, await this.events.getEvent(eventKey));
  }

  /** Corrects the event (name, quantities, period) or switches issuing off or on. */
  @Patch(':eventKey')
  @WithRouteFlags({
    admin: true,
    input: routeInput({ params: eventKeyParamsSchema, body: correctEventSchema }),
  })
  @ApiBearerAuth('adminBearer')
  @ApiOperationDoc({
    summary: 'Correct an event or switch issuing off or on',
    description: schemas.CORRECTION_RULES,
    params: { eventKey: schemas.eventKey },
    body: schemas.correctEventBody,
    idempotent: true,
    outcomes: {
      200: { description: 'The event as corrected', schema: schemas.event },
      400: BAD_EVENT_INPUT,
      401: ADMIN_ONLY,
      404: UNKNOWN_EVENT,
      409: CORRECTION_REFUSED,
    },
  })
  correctEvent(
    @ValidInput('params') { eventKey }: { eventKey: string },
    @ValidInput('body') input: CorrectEventInput,
    @IdempotencyClaimOf() claim: IdempotencyClaim | undefined,
    @AuditedBy() by: AuditedRequest,
  ): Promise<EventView> {
    return this.events.correctEvent(eventKey, input, claim, by);
  }
}
