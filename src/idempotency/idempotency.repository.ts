import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { IdempotencyClaim, StoredResponse } from './idempotency-claim';
import { IdempotencyKeyModel } from './idempotency-key.model';
import type { ClaimTiming, KeyRecord, RequestFingerprint } from './idempotency-rules';

/** A stored key with the version it was read at, so a take-over can check nothing changed since. */
export interface VersionedKeyRecord extends KeyRecord {
  /** PostgreSQL's xmin of the row: changes with every write to it. */
  version: string;
}

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
  /** Claims a key never seen (or purged): undefined when the key is already there. */
  async claimNew(
    db: Knex,
    key: string,
    { method, path, requestHash }: RequestFingerprint,
    { now, expiresAt }: ClaimTiming,
  ): Promise<IdempotencyClaim | undefined> {
    const token = randomUUID();
    const inserted = await db.raw<{ rowCount: number }>(
      `INSERT INTO idempotency_keys
         (idempotency_key, method, path, request_hash, lock_token, locked_at, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`,
      [key, method, path, requestHash, token, now, now, expiresAt],
    );
    return inserted.rowCount === 1 ? new IdempotencyClaim(key, token) : undefined;
  }

  async find(db: Knex, key: string): Promise<VersionedKeyRecord | undefined> {
    const record = await IdempotencyKeyModel.query(db)
      .select('*', db.raw('xmin::text AS version'))
      .findById(key);
    return record as VersionedKeyRecord | undefined;
  }

  /**
   * Takes over a key that judge() found claimable (expired, or a claim whose request died), provided it is
   * still the version that was judged: undefined when it changed in between.
   */
  async takeOver(
    db: Knex,
    record: VersionedKeyRecord,
    { method, path, requestHash }: RequestFingerprint,
    { now, expiresAt }: ClaimTiming,
  ): Promise<IdempotencyClaim | undefined> {
    const token = randomUUID();
    const updated = await db.raw<{ rowCount: number }>(
      `UPDATE idempotency_keys
          SET method = ?, path = ?, request_hash = ?, lock_token = ?, locked_at = ?,
              response_status = NULL, response_headers = NULL, response_body = NULL,
              created_at = ?, expires_at = ?
        WHERE idempotency_key = ? AND xmin = ?::xid`,
      [
        method,
        path,
        requestHash,
        token,
        now,
        now,
        expiresAt,
        record.idempotencyKey,
        record.version,
      ],
    );
    return updated.rowCount === 1 ? new IdempotencyClaim(record.idempotencyKey, token) : undefined;
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
