import { Module } from '@nestjs/common';
import { IdempotencyHooks } from './idempotency-hooks';
import { IdempotencyPurger } from './idempotency-purger';
import { IdempotencyRepository } from './idempotency.repository';
import { IdempotencyService } from './idempotency.service';

@Module({
  providers: [IdempotencyRepository, IdempotencyService, IdempotencyPurger, IdempotencyHooks],
  exports: [IdempotencyRepository, IdempotencyPurger, IdempotencyHooks],
})
export class IdempotencyModule {}
