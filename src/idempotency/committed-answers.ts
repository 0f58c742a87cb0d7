import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import type { StoredResponse } from './idempotency-claim';
import {
  IdempotentRequest,
  KeyRecord,
  RequestFingerprint,
  Verdict,
  answeredRecord,
  fingerprintOfRecord,
  judge,
  storedAnswerOf,
} from './idempotency-rules';

/** A complete answer of a key, as its committed record holds it. */
interface Remembered {
  fingerprint: RequestFingerprint;
  response: StoredResponse;
  expiresAt: Date;
}

/**
 * A read cache of committed Idempotency-Key records, per process: the complete answers of the last
 * IDEMPOTENCY_MEMORY_KEYS keys this process stored or read (oldest forgotten first). A complete record never
 * changes before its own `expires_at` (judge() lets nothing replace it until then), so a retransmission
 * gets the same status and body bytes from memory, and a reuse for another request is refused 422 — judged
 * by the same rules as the stored record. Only what is committed is remembered, with the record's own
 * expiry: the cache never says anything the database would not.
 */
@Injectable()
export class CommittedAnswers {
  private readonly remembered = new Map<string, Remembered>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /**
   * The verdict on a key from memory: a replay or a refusal (422) when this process knows its committed
   * answer; undefined when it does not (or the record has expired), for the database to judge.
   */
  recall(
    { key, fingerprint }: IdempotentRequest,
    now: Date,
  ): Exclude<Verdict, { kind: 'claimable' }> | undefined {
    const known = this.remembered.get(key);
    if (!known) return undefined;
    const record = answeredRecord(
      { key, fingerprint: known.fingerprint },
      known.response,
      known.expiresAt,
    );
    const verdict = judge(record, fingerprint, now, 0);
    if (verdict.kind === 'claimable') {
      this.remembered.delete(key);
      return undefined;
    }
    return verdict;
  }

  /** Remembers a record read from the database, when it holds a complete answer still valid at `now`. */
  rememberRecord(record: KeyRecord, now: Date): void {
    const response = storedAnswerOf(record);
    if (!response || record.expiresAt.getTime() <= now.getTime()) return;
    const request = { key: record.idempotencyKey, fingerprint: fingerprintOfRecord(record) };
    this.remember(request, response, record.expiresAt);
  }

  /** Remembers a committed answer until its record's `expiresAt`. */
  remember(
    { key, fingerprint }: IdempotentRequest,
    response: StoredResponse,
    expiresAt: Date,
  ): void {
    this.remembered.delete(key);
    this.remembered.set(key, { fingerprint, response, expiresAt });
    if (this.remembered.size > this.config.idempotency.memoryKeys) {
      this.remembered.delete(this.remembered.keys().next().value!);
    }
  }
}
