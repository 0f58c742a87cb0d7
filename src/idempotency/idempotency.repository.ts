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
    const [record] = await this.findMany(db, [key]);
    return record;
  }

  async findMany(db: Knex, keys: string[]): Promise<VersionedKeyRecord[]> {
    const records = await IdempotencyKeyModel.query(db)
      .select('*', db.raw('xmin::text AS version'))
      .whereIn('idempotencyKey', keys);
    return records as unknown as VersionedKeyRecord[];
  }

  /**
   * Takes over a key that judge() found claimable (expired, or a claim whose request died), provided it is
   * still the version that was judged: undefined when it changed in between.
   */
  async takeOver(
    db: Knex,
    record: VersionedKeyRecord,
    fingerprint: RequestFingerprint,
    timing: ClaimTiming,
  ): Promise<IdempotencyClaim | undefined> {
    const token = randomUUID();
    const taken = await this.overwrite(db, record, fingerprint, timing, { token });
    return taken ? new IdempotencyClaim(record.idempotencyKey, token) : undefined;
  }

  /**
   * Writes answers given without the database (IdempotencyWriteBehind) for keys not stored yet; returns the
   * keys that were already there, for the caller to judge.
   */
  async insertAnswers(
    db: Knex,
    answers: ReadonlyArray<{
      key: string;
      fingerprint: RequestFingerprint;
      response: StoredResponse;
    }>,
    ttlSeconds: number,
    answeredAt: ReadonlyArray<Date>,
  ): Promise<string[]> {
    const rows = answers.map(({ key, fingerprint, response }, index) => ({
      key,
      ...fingerprint,
      status: response.status,
      headers: response.headers,
      body: response.body,
      at: answeredAt[index],
      expires: new Date(answeredAt[index].getTime() + ttlSeconds * 1000),
    }));
    const { rows: inserted } = await db.raw<{ rows: Array<{ key: string }> }>(
      `INSERT INTO idempotency_keys
         (idempotency_key, method, path, request_hash, response_status, response_headers, response_body,
          created_at, expires_at)
       SELECT a->>'key', a->>'method', a->>'path', a->>'requestHash', (a->>'status')::smallint,
              a->'headers', a->>'body', (a->>'at')::timestamptz, (a->>'expires')::timestamptz
         FROM jsonb_array_elements(?::jsonb) a
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING idempotency_key AS key`,
      [JSON.stringify(rows)],
    );
    const stored = new Set(inserted.map((row) => row.key));
    return rows.filter((row) => !stored.has(row.key)).map((row) => row.key);
  }

  /** Replaces a key judge() found claimable with a complete answer, if it is still the version judged. */
  async replaceWithAnswer(
    db: Knex,
    record: VersionedKeyRecord,
    fingerprint: RequestFingerprint,
    timing: ClaimTiming,
    response: StoredResponse,
  ): Promise<boolean> {
    return this.overwrite(db, record, fingerprint, timing, { response });
  }

  /** Overwrites the version of a key that was judged, as a claim (token) or as an answer. */
  private async overwrite(
    db: Knex,
    record: VersionedKeyRecord,
    { method, path, requestHash }: RequestFingerprint,
    { now, expiresAt }: ClaimTiming,
    as: { token: string } | { response: StoredResponse },
  ): Promise<boolean> {
    const claim = 'token' in as;
    const updated = await db.raw<{ rowCount: number }>(
      `UPDATE idempotency_keys
          SET method = ?, path = ?, request_hash = ?, lock_token = ?, locked_at = ?,
              response_status = ?, response_headers = ?, response_body = ?,
              created_at = ?, expires_at = ?
        WHERE idempotency_key = ? AND xmin = ?::xid`,
      [
        method,
        path,
        requestHash,
        claim ? as.token : null,
        claim ? now : null,
        claim ? null : as.response.status,
        claim ? null : JSON.stringify(as.response.headers),
        claim ? null : as.response.body,
        now,
        expiresAt,
        record.idempotencyKey,
        record.version,
      ],
    );
    return updated.rowCount === 1;
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
