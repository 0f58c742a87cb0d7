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

  /**
   * Claims the key, or answers with the stored response; throws 422/409 per the rules. judge() alone
   * decides; the writes only check that the key is still as it was judged.
   */
  async begin({ key, fingerprint }: IdempotentRequest): Promise<BeginOutcome> {
    for (;;) {
      const timing = claimTiming(this.clock.now(), this.config.idempotency);
      const claimed = await this.repository.claimNew(this.knex, key, fingerprint, timing);
      if (claimed) return { kind: 'proceed', claim: claimed };
      const record = await this.repository.find(this.knex, key);
      if (!record) continue; // purged in between
      const verdict = judge(
        record,
        fingerprint,
        timing.now,
        this.config.idempotency.lockTimeoutSeconds,
      );
      if (verdict.kind === 'replay') return { kind: 'replay', response: verdict.response };
      if (verdict.kind === 'refused') throw verdict.error;
      const takenOver = await this.repository.takeOver(this.knex, record, fingerprint, timing);
      if (takenOver) return { kind: 'proceed', claim: takenOver };
      // Changed since it was judged: judge it again.
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
