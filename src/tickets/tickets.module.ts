import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { FinalRefusals } from './final-refusals';
import { IssueTicketRoute } from './issue-ticket.route';
import { TicketIssuanceService } from './ticket-issuance.service';
import { TicketsController } from './tickets.controller';
import { IssuanceRepository } from './issuance.repository';
import { TicketsRepository } from './tickets.repository';
import { TicketsService } from './tickets.service';

@Module({
  imports: [EventsModule, IdempotencyModule],
  controllers: [TicketsController],
  providers: [
    TicketIssuanceService,
    TicketsService,
    TicketsRepository,
    IssuanceRepository,
    FinalRefusals,
    IssueTicketRoute,
  ],
  exports: [TicketIssuanceService],
})
export class TicketsModule {}
