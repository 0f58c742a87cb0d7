import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { IdempotencyClaim, StoredResponse } from './idempotency-claim';
import { IdempotencyKeyModel } from './idempotency-key.model';
import type { RequestFingerprint } from './idempotency-rules';

export interface ClaimTiming {
  now: Date;
  expiresAt: Date;
  /** A claim locked before this moment belongs to a request that died; it may be taken over. */
  staleBefore: Date;
}

export type ClaimOutcome =
  { kind: 'claimed'; claim: IdempotencyClaim } | { kind: 'existing'; record: IdempotencyKeyModel };

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
    fingerprint: RequestFingerprint,
    timing: ClaimTiming,
  ): Promise<ClaimOutcome> {
    for (;;) {
      const token = randomUUID();
      const claimed = await db.raw<{ rowCount: number }>(
        `INSERT INTO idempotency_keys AS k
           (idempotency_key, method, path, request_hash, lock_token, locked_at, created_at, expires_at)
         VALUES (:key, :method, :path, :requestHash, :token, :now, :now, :expiresAt)
         ON CONFLICT (idempotency_key) DO UPDATE
           SET method = excluded.method, path = excluded.path, request_hash = excluded.request_hash,
               lock_token = excluded.lock_token, locked_at = excluded.locked_at,
               created_at = excluded.created_at, expires_at = excluded.expires_at,
               response_status = NULL, response_headers = NULL, response_body = NULL
         WHERE k.expires_at <= :now
            OR (k.response_status IS NULL AND k.locked_at < :staleBefore
                AND k.method = excluded.method AND k.path = excluded.path
                AND k.request_hash = excluded.request_hash)`,
        { key, token, ...fingerprint, ...timing },
      );
      if (claimed.rowCount === 1)
        return { kind: 'claimed', claim: new IdempotencyClaim(key, token) };
      const record = await IdempotencyKeyModel.query(db).findById(key);
      // Purged between the two statements: claim again.
      if (record) return { kind: 'existing', record };
    }
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
