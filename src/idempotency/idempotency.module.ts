import { Module } from '@nestjs/common';
import { AnswerGroupCommit } from './answer-group-commit';
import { CommittedAnswers } from './committed-answers';
import { IdempotencyHooks } from './idempotency-hooks';
import { IdempotencyPurger } from './idempotency-purger';
import { IdempotencyRepository } from './idempotency.repository';
import { IdempotencyService } from './idempotency.service';

@Module({
  providers: [
    IdempotencyRepository,
    IdempotencyService,
    IdempotencyPurger,
    IdempotencyHooks,
    CommittedAnswers,
    AnswerGroupCommit,
  ],
  exports: [
    IdempotencyRepository,
    IdempotencyPurger,
    IdempotencyHooks,
    CommittedAnswers,
    AnswerGroupCommit,
  ],
})
export class IdempotencyModule {}
