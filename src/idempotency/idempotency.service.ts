import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { Clock } from '../clock/clock';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import {
  IdempotencyKeyInFlightError,
  IdempotencyKeyMalformedError,
  IdempotencyKeyReusedError,
} from '../common/errors/domain-errors';
import { KNEX } from '../database/database.module';
import type { IdempotencyClaim, StoredResponse } from './idempotency-claim';
import {
  IdempotencyRepository,
  RequestFingerprint,
  ResponseToStore,
} from './idempotency.repository';

/** 1–255 printable ASCII characters (IETF httpapi Idempotency-Key draft; the spec's bounds). */
const VALID_KEY = /^[\x20-\x7e]{1,255}$/;

export type BeginOutcome =
  { kind: 'proceed'; claim: IdempotencyClaim } | { kind: 'replay'; response: StoredResponse };

/**
 * The Idempotency-Key rules in one place: claim on first arrival, replay a completed answer, refuse a key
 * reused for another request (422) or still in flight (409 + Retry-After), take over a claim whose request died.
 */
@Injectable()
export class IdempotencyService {
  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly repository: IdempotencyRepository,
  ) {}

  parseKey(header: string | string[] | undefined): string | undefined {
    if (header === undefined) return undefined;
    if (typeof header !== 'string' || !VALID_KEY.test(header)) {
      throw new IdempotencyKeyMalformedError();
    }
    return header;
  }

  async begin(key: string, method: string, path: string, body: unknown): Promise<BeginOutcome> {
    const fingerprint: RequestFingerprint = { method, path, requestHash: hashBody(body) };
    const { ttlSeconds, lockTimeoutSeconds } = this.config.idempotency;
    const now = this.clock.now();
    const outcome = await this.repository.claim(this.knex, key, fingerprint, {
      now,
      expiresAt: new Date(now.getTime() + ttlSeconds * 1000),
      staleBefore: new Date(now.getTime() - lockTimeoutSeconds * 1000),
    });
    if (outcome.kind === 'claimed') return { kind: 'proceed', claim: outcome.claim };

    const { record } = outcome;
    if (
      record.method !== fingerprint.method ||
      record.path !== fingerprint.path ||
      record.requestHash !== fingerprint.requestHash
    ) {
      throw new IdempotencyKeyReusedError();
    }
    if (record.responseStatus === null || record.responseBody === null) {
      const lockedFor = now.getTime() - (record.lockedAt?.getTime() ?? now.getTime());
      const left = Math.ceil((lockTimeoutSeconds * 1000 - lockedFor) / 1000);
      throw new IdempotencyKeyInFlightError(Math.min(Math.max(left, 1), 5));
    }
    return {
      kind: 'replay',
      response: {
        status: record.responseStatus,
        headers: record.responseHeaders ?? {},
        body: record.responseBody,
      },
    };
  }

  async complete(claim: IdempotencyClaim, response: ResponseToStore): Promise<void> {
    await this.repository.complete(this.knex, claim, response);
    claim.stored = true;
  }

  async release(claim: IdempotencyClaim): Promise<void> {
    await this.repository.release(this.knex, claim);
  }
}

/** SHA-256 of the body's canonical JSON (keys sorted at every level), so key order does not matter. */
export function hashBody(body: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(body)) ?? '')
    .digest('hex');
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}
