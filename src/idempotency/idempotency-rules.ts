import { hash } from 'node:crypto';
import {
  DomainError,
  IdempotencyKeyInFlightError,
  IdempotencyKeyMalformedError,
  IdempotencyKeyReusedError,
} from '../common/errors/domain-errors';
import type { StoredResponse } from './idempotency-claim';

/** 1–255 printable ASCII characters (IETF httpapi Idempotency-Key draft; the spec's bounds). */
const VALID_KEY = /^[\x20-\x7e]{1,255}$/;

/**
 * What makes two requests "the same request": the method, the route (its pattern, e.g.
 * `/events/:eventKey/tickets`) and a hash of the decoded route parameters and the body as canonical JSON —
 * so a query string, another percent-encoding of the same path or another key order is the same request.
 */
export interface RequestFingerprint {
  method: string;
  path: string;
  requestHash: string;
}

/** A request that carries an Idempotency-Key. */
export interface IdempotentRequest {
  key: string;
  fingerprint: RequestFingerprint;
}

/** What the rules need of a stored key (an IdempotencyKeyModel, or a row read with an issuance batch). */
export interface KeyRecord extends RequestFingerprint {
  idempotencyKey: string;
  lockedAt: Date | null;
  responseStatus: number | null;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
  expiresAt: Date;
}

export interface ClaimTiming {
  now: Date;
  expiresAt: Date;
}

/** When a key written at `now` expires. */
export function claimTiming(now: Date, settings: { ttlSeconds: number }): ClaimTiming {
  return { now, expiresAt: new Date(now.getTime() + settings.ttlSeconds * 1000) };
}

export type Verdict =
  | { kind: 'claimable' }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'refused'; error: DomainError };

/**
 * The key as stored: scoped by the verified user when end-user tokens are on, as Stripe scopes keys per
 * account — the same key from two users is two keys. The separator is no printable character, so a scoped
 * key never equals a key sent as it is.
 */
export function scopedKey(key: string, user: string | undefined): string {
  return user === undefined ? key : `${user}\u001f${key}`;
}

/** The header's value, undefined when absent; a malformed one is a 400. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !VALID_KEY.test(header)) {
    throw new IdempotencyKeyMalformedError();
  }
  return header;
}

export function fingerprintOf(
  method: string,
  route: string,
  params: unknown,
  body: unknown,
): RequestFingerprint {
  const requestHash = hash('sha256', canonicalJson({ params, body }), 'hex');
  return { method, path: route, requestHash };
}

/**
 * The rules of the spec for a key already seen, in one place (the writes that follow only check the key
 * did not change since it was judged): expired or never seen → run it; used for another request → 422;
 * answered → replay that answer; still running → 409 with Retry-After; running longer than the lock
 * timeout (its request died) → run it.
 */
export function judge(
  record: KeyRecord | undefined,
  fingerprint: RequestFingerprint,
  now: Date,
  lockTimeoutSeconds: number,
): Verdict {
  if (!record || record.expiresAt.getTime() <= now.getTime()) return { kind: 'claimable' };
  if (!isSameRequest(record, fingerprint)) {
    return { kind: 'refused', error: new IdempotencyKeyReusedError() };
  }
  const answer = storedAnswerOf(record);
  if (answer) return { kind: 'replay', response: answer };
  const lockedForMs = now.getTime() - (record.lockedAt?.getTime() ?? now.getTime());
  const leftMs = lockTimeoutSeconds * 1000 - lockedForMs;
  if (leftMs <= 0) return { kind: 'claimable' };
  const retryAfterSeconds = Math.min(Math.max(Math.ceil(leftMs / 1000), 1), 5);
  return { kind: 'refused', error: new IdempotencyKeyInFlightError(retryAfterSeconds) };
}

/** The complete answer a record keeps; undefined while its request is still running. */
export function storedAnswerOf(record: KeyRecord): StoredResponse | undefined {
  if (record.responseStatus === null || record.responseBody === null) return undefined;
  return {
    status: record.responseStatus,
    headers: record.responseHeaders ?? {},
    body: record.responseBody,
  };
}

/** The record of a key answered with `response`, as committed. */
export function answeredRecord(
  { key, fingerprint }: IdempotentRequest,
  response: StoredResponse,
  expiresAt: Date,
): KeyRecord {
  return {
    idempotencyKey: key,
    ...fingerprint,
    lockedAt: null,
    responseStatus: response.status,
    responseHeaders: response.headers,
    responseBody: response.body,
    expiresAt,
  };
}

/** The fingerprint part of a record. */
export function fingerprintOfRecord({ method, path, requestHash }: KeyRecord): RequestFingerprint {
  return { method, path, requestHash };
}

export function isSameRequest(a: RequestFingerprint, b: RequestFingerprint): boolean {
  return a.method === b.method && a.path === b.path && a.requestHash === b.requestHash;
}

/**
 * JSON with every object's keys in sorted order, written in one pass (the body was parsed from JSON and
 * nests at most MAX_BODY_DEPTH levels). Values JSON cannot write (undefined) are left out, as JSON does.
 */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members: string[] = [];
    for (const key of Object.keys(record).sort()) {
      if (record[key] !== undefined)
        members.push(`${JSON.stringify(key)}:${canonicalJson(record[key])}`);
    }
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
