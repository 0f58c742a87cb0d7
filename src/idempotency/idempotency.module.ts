import { Module } from '@nestjs/common';
import { IdempotencyHooks } from './idempotency-hooks';
import { IdempotencyPurger } from './idempotency-purger';
import { IdempotencyRepository } from './idempotency.repository';
import { IdempotencyService } from './idempotency.service';
import { IdempotencyWriteBehind } from './idempotency-write-behind';

@Module({
  providers: [
    IdempotencyRepository,
    IdempotencyService,
    IdempotencyPurger,
    IdempotencyHooks,
    IdempotencyWriteBehind,
  ],
  exports: [IdempotencyRepository, IdempotencyPurger, IdempotencyHooks, IdempotencyWriteBehind],
})
export class IdempotencyModule {}
