import { Module } from '@nestjs/common';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { EventAudit } from './event-audit';
import { EventUpdates } from './event-updates';
import { EventViewsCache } from './event-views.cache';
import { EventsController } from './events.controller';
import { EventsRepository } from './events.repository';
import { EventsService } from './events.service';

@Module({
  imports: [IdempotencyModule],
  controllers: [EventsController],
  providers: [EventsService, EventsRepository, EventUpdates, EventViewsCache, EventAudit],
  exports: [EventsRepository, EventUpdates, EventViewsCache],
})
export class EventsModule {}
