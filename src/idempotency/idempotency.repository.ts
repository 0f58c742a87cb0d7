import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { IdempotencyKeyInFlightError } from '../common/errors/domain-errors';
import { IdempotencyClaim, StoredResponse } from './idempotency-claim';
import { IdempotencyKeyModel } from './idempotency-key.model';
import type {
  ClaimTiming,
  IdempotentRequest,
  KeyRecord,
  RequestFingerprint,
} from './idempotency-rules';

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

/**
 * The group commit's statement by name, so that PostgreSQL parses and plans it once per connection: about
 * half a millisecond of its CPU a group otherwise (`npm run bench -- --only key-store`, groups of 10).
 */
const INSERT_ANSWERS_STATEMENT = 'idempotency-insert-answers';

/**
 * The order every statement that writes several keys writes them in: the same keys written by two
 * instances at once (a retransmission on another instance, a group commit beside an issuance batch) then
 * wait on each other in turn. In the order their requests came, two such statements can each hold a key
 * the other wants next: a deadlock, which PostgreSQL breaks after deadlock_timeout by failing one of them
 * (a bench storm answered a whole group 500 so).
 */
export const KEY_ORDER = "ORDER BY a->>'key'"; // each statement names its JSON rows `a`

/** A key record as one JSON object (`k` is the idempotency_keys row), to read many in one statement. */
export const RECORD_JSON = `jsonb_build_object(
  'idempotencyKey', k.idempotency_key, 'method', k.method, 'path', k.path,
  'requestHash', k.request_hash, 'lockedAt', k.locked_at, 'responseStatus', k.response_status,
  'responseHeaders', k.response_headers, 'responseBody', k.response_body, 'expiresAt', k.expires_at)`;

/** A record read as RECORD_JSON. */
export type RecordJson = Omit<KeyRecord, 'lockedAt' | 'expiresAt'> & {
  lockedAt: string | null;
  expiresAt: string;
};

export function recordOf(json: RecordJson): KeyRecord {
  return {
    ...json,
    lockedAt: json.lockedAt === null ? null : new Date(json.lockedAt),
    expiresAt: new Date(json.expiresAt),
  };
}

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
   * The group commit of answers given without a batch (AnswerGroupCommit), in one statement: each answer is
   * stored unless its key is there already. Returns the keys stored, and the records of the others as this
   * statement saw them; a key written by a transaction that committed while this statement waited on it is
   * in neither, for the caller to read again. Rows go in in key order (KEY_ORDER).
   *
   * The records are read back only when some key was not stored: a key this statement's snapshot sees
   * conflicts, so when every key went in there is nothing to read, and the usual group (fresh keys) skips
   * an index probe per key (≈ 10 % of its CPU a row, `npm run bench -- --only key-store`).
   *
   * The read-back is a lookup per answer (LATERAL … OFFSET 0), not a join, and the statement, though named,
   * is planned at every run (plan_cache_mode, knex-config.ts): a plan cached from the table's first runs,
   * empty or a few rows when a drop opens, would scan every key for each group that met a conflict, once a
   * group as a join or once an answer as a lookup, until autoanalyze replanned it.
   */
  async insertAnswers(
    db: Knex,
    answers: ReadonlyArray<{
      request: IdempotentRequest;
      response: StoredResponse;
      timing: ClaimTiming;
    }>,
  ): Promise<{ inserted: Set<string>; existing: KeyRecord[] }> {
    const rows = answers.map(({ request, response, timing }) => ({
      key: request.key,
      ...request.fingerprint,
      status: response.status,
      headers: response.headers,
      body: response.body,
      at: timing.now,
      expires: timing.expiresAt,
    }));
    const { rows: result } = await db
      .raw<{
        rows: Array<{ inserted: string[]; existing: RecordJson[] }>;
      }>(
        `WITH answer AS (SELECT value AS a FROM jsonb_array_elements(?::jsonb)),
       inserted AS (
         INSERT INTO idempotency_keys
           (idempotency_key, method, path, request_hash, response_status, response_headers, response_body,
            created_at, expires_at)
         SELECT a->>'key', a->>'method', a->>'path', a->>'requestHash', (a->>'status')::smallint,
                a->'headers', a->>'body', (a->>'at')::timestamptz, (a->>'expires')::timestamptz
           FROM answer
          ${KEY_ORDER}
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING idempotency_key
       )
       SELECT (SELECT coalesce(jsonb_agg(idempotency_key), '[]'::jsonb) FROM inserted) AS inserted,
              (SELECT coalesce(jsonb_agg(x.r), '[]'::jsonb)
                 FROM answer,
                      LATERAL (SELECT ${RECORD_JSON} AS r FROM idempotency_keys k
                                WHERE k.idempotency_key = a->>'key' OFFSET 0) x
                WHERE (SELECT count(*) FROM inserted) < (SELECT count(*) FROM answer)) AS existing`,
        [JSON.stringify(rows)],
      )
      .options({ name: INSERT_ANSWERS_STATEMENT });
    return { inserted: new Set(result[0].inserted), existing: result[0].existing.map(recordOf) };
  }

  /**
   * Stores the answer of a claim, in the caller's transaction when it passes one. The caller sets
   * `claim.stored` once that transaction has committed. A claim taken over meanwhile (its lock timed out)
   * stores nothing: another request holds the key now, so this answer must not go out (409 in flight).
   */
  async complete(db: Knex, claim: IdempotencyClaim, response: ResponseToStore): Promise<void> {
    const stored = toStoredResponse(response);
    const updated = await IdempotencyKeyModel.query(db)
      .patch({
        responseStatus: stored.status,
        responseHeaders: stored.headers,
        responseBody: stored.body,
        lockToken: null,
        lockedAt: null,
      })
      .where({ idempotencyKey: claim.key, lockToken: claim.token });
    if (updated === 0) throw new IdempotencyKeyInFlightError(1);
  }

  /** Gives the key back (a 5xx is not an answer to keep), so a retry runs afresh. */
  async release(db: Knex, claim: IdempotencyClaim): Promise<void> {
    await IdempotencyKeyModel.query(db)
      .delete()
      .where({ idempotencyKey: claim.key, lockToken: claim.token });
  }

  /**
   * Starts the fleet's sweep of this purge interval: true for the one caller whose statement finds the last
   * sweep started at least `intervalSeconds` ago (by the database's clock, which every instance shares).
   */
  async startSweep(db: Knex, intervalSeconds: number): Promise<boolean> {
    const started = await db.raw<{ rowCount: number }>(
      `UPDATE idempotency_purge SET swept_at = now()
        WHERE swept_at <= now() - make_interval(secs => ?)`,
      [intervalSeconds],
    );
    return started.rowCount === 1;
  }

  /** The key table's length in blocks: where a sweep ends. */
  async blocks(db: Knex): Promise<number> {
    const { rows } = await db.raw<{ rows: Array<{ blocks: string }> }>(
      `SELECT pg_relation_size('idempotency_keys') / current_setting('block_size')::int AS blocks`,
    );
    return Number(rows[0].blocks);
  }

  /**
   * Deletes up to `batchSize` keys expired by `now` in the table's blocks [from, to) (a TID range scan:
   * no index), skipping rows another transaction holds; returns how many went.
   */
  async purgeExpired(
    db: Knex,
    now: Date,
    { from, to }: { from: number; to: number },
    batchSize: number,
  ): Promise<number> {
    const result = await db.raw<{ rowCount: number }>(
      `DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
         SELECT ctid FROM idempotency_keys
          WHERE ctid >= ?::tid AND ctid < ?::tid AND expires_at <= ?
          LIMIT ? FOR UPDATE SKIP LOCKED))`,
      [`(${from},0)`, `(${to},0)`, now, batchSize],
    );
    return result.rowCount;
  }
}
