import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { IdempotencyClaim, StoredResponse } from './idempotency-claim';
import { IdempotencyKeyModel } from './idempotency-key.model';
import type { ClaimTiming, RequestFingerprint } from './idempotency-rules';

export type ClaimOutcome =
  | { kind: 'claimed'; claim: IdempotencyClaim }
  /** The key as it stands, for judge(); undefined when it was purged in between. */
  | { kind: 'existing'; record: IdempotencyKeyModel | undefined };

/**
 * The ON CONFLICT clause of every write that takes a key (table alias `k`): all columns come from the new row,
 * but only when the stored key may run again — expired, or a claim of the very same request whose lock timed
 * out. judge() in idempotency-rules.ts decides the same in code. Bindings: now, staleBefore.
 */
export const TAKE_OVER_CLAIMABLE_KEY = `
  ON CONFLICT (idempotency_key) DO UPDATE
    SET method = excluded.method, path = excluded.path, request_hash = excluded.request_hash,
        lock_token = excluded.lock_token, locked_at = excluded.locked_at,
        response_status = excluded.response_status, response_headers = excluded.response_headers,
        response_body = excluded.response_body, created_at = excluded.created_at,
        expires_at = excluded.expires_at
  WHERE k.expires_at <= ?::timestamptz
     OR (k.response_status IS NULL AND k.locked_at < ?::timestamptz
         AND k.method = excluded.method AND k.path = excluded.path
         AND k.request_hash = excluded.request_hash)`;

/** A response to store: an object body is stored as its JSON text, exactly as it went out. */
export interface ResponseToStore {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export function toStoredResponse(response: ResponseToStore): StoredResponse {
  return {
    status: response.status,
    headers: { 'content-type': JSON_CONTENT_TYPE, ...response.headers },
    body: typeof response.body === 'string' ? response.body : JSON.stringify(response.body),
  };
}

@Injectable()
export class IdempotencyRepository {
  /**
   * Claims the key in one statement: a new key is inserted; an expired key, or a stale claim of the very same
   * request, is taken over. Anything else is returned as it stands for the caller to judge.
   */
  async claim(
    db: Knex,
    key: string,
    { method, path, requestHash }: RequestFingerprint,
    { now, expiresAt, staleBefore }: ClaimTiming,
  ): Promise<ClaimOutcome> {
    const token = randomUUID();
    const claimed = await db.raw<{ rowCount: number }>(
      `INSERT INTO idempotency_keys AS k
         (idempotency_key, method, path, request_hash, lock_token, locked_at, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ${TAKE_OVER_CLAIMABLE_KEY}`,
      [key, method, path, requestHash, token, now, now, expiresAt, now, staleBefore],
    );
    if (claimed.rowCount === 1) return { kind: 'claimed', claim: new IdempotencyClaim(key, token) };
    return { kind: 'existing', record: await IdempotencyKeyModel.query(db).findById(key) };
  }

  /**
   * Stores the answer of a claim, in the caller's transaction when it passes one. The caller sets
   * `claim.stored` once that transaction has committed.
   */
  async complete(db: Knex, claim: IdempotencyClaim, response: ResponseToStore): Promise<void> {
    const stored = toStoredResponse(response);
    await IdempotencyKeyModel.query(db)
      .patch({
        responseStatus: stored.status,
        responseHeaders: stored.headers,
        responseBody: stored.body,
        lockToken: null,
        lockedAt: null,
      })
      .where({ idempotencyKey: claim.key, lockToken: claim.token });
  }

  /** Gives the key back (a 5xx is not an answer to keep), so a retry runs afresh. */
  async release(db: Knex, claim: IdempotencyClaim): Promise<void> {
    await IdempotencyKeyModel.query(db)
      .delete()
      .where({ idempotencyKey: claim.key, lockToken: claim.token });
  }

  /** Deletes up to `batchSize` expired keys; returns how many went. */
  async purgeExpired(db: Knex, now: Date, batchSize: number): Promise<number> {
    const result = await db.raw<{ rowCount: number }>(
      `DELETE FROM idempotency_keys WHERE idempotency_key IN (
         SELECT idempotency_key FROM idempotency_keys WHERE expires_at <= ?
         ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED)`,
      [now, batchSize],
    );
    return result.rowCount;
  }
}
