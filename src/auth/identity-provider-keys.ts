import { Logger } from '@nestjs/common';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { jose } from './jose';

/** The identity provider's keys could not be fetched and none are known yet: the service's trouble, a 503. */
export class IdentityProviderUnavailableError extends Error {
  constructor() {
    super("the identity provider's keys (USER_JWKS_URL) could not be fetched");
  }
}

/** A fetch of the keys gives up after this. */
const FETCH_TIMEOUT_MS = 3_000;
/** Known keys are refreshed in the background after this (a removed key stops working then). */
const REFRESH_AFTER_MS = 10 * 60_000;
/** After a failed fetch, the next one waits this long (requests meanwhile get the known keys, or a 503). */
const FAILED_FETCH_BACKOFF_MS = 1_000;

/**
 * The identity provider's public keys (JWKS at USER_JWKS_URL), for jose's jwtVerify. jose matches a token
 * to a key (createLocalJWKSet); this class decides when to fetch: once at first use, again in the
 * background every REFRESH_AFTER_MS, and at once for a token whose key id is unknown (a rotation), at most
 * every USER_JWKS_COOLDOWN_MS. A provider that is down or slow never logs users out: the keys known keep
 * verifying tokens, and only when none are known, or a rotation cannot be fetched, is the answer a 503.
 */
export class IdentityProviderKeys {
  private readonly logger = new Logger('UserTokens');
  private known?: { getKey: JWTVerifyGetKey; fetchedAt: number };
  private fetching?: Promise<boolean>;
  private lastFetchAt = -Infinity;
  private lastFailureAt = -Infinity;

  constructor(
    private readonly url: URL,
    private readonly cooldownMs: number,
  ) {}

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const now = performance.now();
    if (!this.known) {
      if (!(await this.fetch())) throw new IdentityProviderUnavailableError();
    } else if (now - this.known.fetchedAt > REFRESH_AFTER_MS) {
      void this.fetch();
    }
    try {
      return await this.known!.getKey(header, token);
    } catch (error) {
      const unknownKey = (error as { code?: unknown }).code === 'ERR_JWKS_NO_MATCHING_KEY';
      if (!unknownKey || performance.now() - this.lastFetchAt < this.cooldownMs) throw error;
      // A key id never seen: the provider may have rotated its keys.
      if (!(await this.fetch())) throw new IdentityProviderUnavailableError();
      return this.known!.getKey(header, token);
    }
  };

  /** Fetches the keys (one fetch at a time); false when it failed. */
  private fetch(): Promise<boolean> {
    if (performance.now() - this.lastFailureAt < FAILED_FETCH_BACKOFF_MS) {
      return Promise.resolve(false);
    }
    this.fetching ??= this.download().finally(() => (this.fetching = undefined));
    return this.fetching;
  }

  private async download(): Promise<boolean> {
    this.lastFetchAt = performance.now();
    try {
      const response = await fetch(this.url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const keys = (await response.json()) as JSONWebKeySet;
      this.known = { getKey: jose.createLocalJWKSet(keys), fetchedAt: performance.now() };
      return true;
    } catch (error) {
      this.lastFailureAt = performance.now();
      this.logger.warn(
        { err: error, url: this.url.href, keysKnown: this.known !== undefined },
        "identity provider's keys not fetched: known keys keep verifying tokens",
      );
      return false;
    }
  }
}
