import { Module } from '@nestjs/common';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { EventSwitches } from './event-switches';
import { EventViewsCache } from './event-views.cache';
import { EventsController } from './events.controller';
import { EventsRepository } from './events.repository';
import { EventsService } from './events.service';

@Module({
  imports: [IdempotencyModule],
  controllers: [EventsController],
  providers: [EventsService, EventsRepository, EventSwitches, EventViewsCache],
  exports: [EventsRepository, EventSwitches, EventViewsCache],
})
export class EventsModule {}
