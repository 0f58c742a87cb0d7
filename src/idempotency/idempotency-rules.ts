import { hash } from 'node:crypto';
import {
  DomainError,
  IdempotencyKeyInFlightError,
  IdempotencyKeyMalformedError,
  IdempotencyKeyRepeatedError,
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

/**
 * The header's value, undefined when absent; two headers are a 400 (one key per request), and so is a
 * malformed one. `rawHeaders` is the request's header lines as sent: Node joins two Idempotency-Key lines
 * into one value ("a1, a2"), which is itself a legal key.
 */
export function parseIdempotencyKey(
  header: string | string[] | undefined,
  rawHeaders: readonly string[],
): string | undefined {
  if (header === undefined) return undefined;
  if (keyHeaderLines(rawHeaders) > 1) throw new IdempotencyKeyRepeatedError();
  if (typeof header !== 'string' || !VALID_KEY.test(header)) {
    throw new IdempotencyKeyMalformedError();
  }
  return header;
}

const KEY_HEADER = 'idempotency-key';

/** The Idempotency-Key lines among raw header lines (names and values alternate): one loop, no allocation. */
function keyHeaderLines(rawHeaders: readonly string[]): number {
  let lines = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (isKeyHeaderName(rawHeaders[i])) lines++;
  }
  return lines;
}

/**
 * Case-insensitive, without lower-casing a copy: the 0x20 bit folds an ASCII letter to lower case, '-' has
 * it already, and no other character of a header name (an HTTP token) folds onto a letter or '-'.
 */
function isKeyHeaderName(name: string): boolean {
  if (name.length !== KEY_HEADER.length) return false;
  for (let i = 0; i < KEY_HEADER.length; i++) {
    if ((name.charCodeAt(i) | 0x20) !== KEY_HEADER.charCodeAt(i)) return false;
  }
  return true;
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
