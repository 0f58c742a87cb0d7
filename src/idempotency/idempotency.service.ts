import { Inject, Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { Clock } from '../clock/clock';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { KNEX } from '../database/database.module';
import type { IdempotencyClaim, StoredResponse } from './idempotency-claim';
import { IdempotentRequest, claimTiming, judge } from './idempotency-rules';
import { IdempotencyRepository, ResponseToStore } from './idempotency.repository';

export type BeginOutcome =
  { kind: 'proceed'; claim: IdempotencyClaim } | { kind: 'replay'; response: StoredResponse };

/** Claim, complete and release keys of requests whose answer is kept after the handler ran. */
@Injectable()
export class IdempotencyService {
  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly repository: IdempotencyRepository,
  ) {}

  /** Claims the key, or answers with the stored response; throws 422/409 per the rules. */
  async begin({ key, fingerprint }: IdempotentRequest): Promise<BeginOutcome> {
    for (;;) {
      const timing = claimTiming(this.clock.now(), this.config.idempotency);
      const outcome = await this.repository.claim(this.knex, key, fingerprint, timing);
      if (outcome.kind === 'claimed') return { kind: 'proceed', claim: outcome.claim };
      const verdict = judge(
        outcome.record,
        fingerprint,
        timing.now,
        this.config.idempotency.lockTimeoutSeconds,
      );
      if (verdict.kind === 'replay') return { kind: 'replay', response: verdict.response };
      if (verdict.kind === 'refused') throw verdict.error;
      // Claimable after all (purged, expired or gone stale in between): claim again.
    }
  }

  async complete(claim: IdempotencyClaim, response: ResponseToStore): Promise<void> {
    await this.repository.complete(this.knex, claim, response);
    claim.stored = true;
  }

  async release(claim: IdempotencyClaim): Promise<void> {
    await this.repository.release(this.knex, claim);
  }
}
