import { Body, Controller, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { JoiPipe } from '../common/joi.pipe';
import type { IdempotencyClaim } from '../idempotency/idempotency-claim';
import { IdempotencyClaimOf } from '../idempotency/idempotency-hooks';
import {
  CreateEventInput,
  SetEventActiveInput,
  createEventSchema,
  eventKeySchema,
  setEventActiveSchema,
} from './event.schemas';
import { CreatedEventView, EventView } from './event.views';
import { EventsService } from './events.service';

@Controller('events')
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Post()
  @HttpCode(201)
  createEvent(
    @Body(new JoiPipe(createEventSchema)) input: CreateEventInput,
    @IdempotencyClaimOf() claim: IdempotencyClaim | undefined,
  ): Promise<CreatedEventView> {
    return this.events.createEvent(input, claim);
  }

  /** The events running now: inside their period and switched on. */
  @Get()
  listRunningEvents(): Promise<EventView[]> {
    return this.events.listRunningEvents();
  }

  @Get(':eventKey')
  getEvent(@Param('eventKey', new JoiPipe(eventKeySchema)) eventKey: string): Promise<EventView> {
    return this.events.getEvent(eventKey);
  }

  /** Switches issuing off or on. */
  @Patch(':eventKey')
  setEventActive(
    @Param('eventKey', new JoiPipe(eventKeySchema)) eventKey: string,
    @Body(new JoiPipe(setEventActiveSchema)) { isActive }: SetEventActiveInput,
  ): Promise<EventView> {
    return this.events.setEventActive(eventKey, isActive);
  }
}
