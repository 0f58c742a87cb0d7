import { createSecretKey } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { JWTVerifyGetKey, JWTVerifyOptions, KeyObject } from 'jose';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import {
  ServiceUnavailableError,
  UserTokenExpiredError,
  UserTokenInvalidError,
  UserTokenMissingError,
} from '../common/errors/domain-errors';
import { IdentityProviderKeys, IdentityProviderUnavailableError } from './identity-provider-keys';
import { jose } from './jose';

/**
 * End-user JWTs from the identity provider the mobile apps already use: HS256 with USER_JWT_SECRET, or
 * RS256/ES256 with the keys at USER_JWKS_URL (cached; an unknown key id refetches them, at most every
 * USER_JWKS_COOLDOWN_MS, so a key rotation is followed). Only these algorithms pass — `none` never does —
 * and the issuer, audience and expiry are checked with USER_JWT_CLOCK_TOLERANCE_SECONDS of tolerance.
 */
@Injectable()
export class UserTokens implements OnApplicationBootstrap {
  private readonly logger = new Logger(UserTokens.name);
  private readonly key?: KeyObject | JWTVerifyGetKey;
  private readonly options: JWTVerifyOptions = {};

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    const settings = config.userTokens;
    if (!settings) return;
    this.key = settings.secret
      ? createSecretKey(Buffer.from(settings.secret, 'utf8'))
      : new IdentityProviderKeys(new URL(settings.jwksUrl!), settings.jwksCooldownMs).getKey;
    this.options = {
      algorithms: settings.secret ? ['HS256'] : ['RS256', 'ES256'],
      issuer: settings.issuer,
      audience: settings.audience,
      clockTolerance: settings.clockToleranceSeconds,
      // A token that never expires is a key to the account forever: refused.
      requiredClaims: ['exp', 'sub'],
    };
  }

  onApplicationBootstrap(): void {
    const settings = this.config.userTokens;
    // At debug: the start-up summary says which (userTokens).
    if (!settings) {
      this.logger.debug(
        'end-user tokens off: userId is trusted as sent (a gateway in front must set it)',
      );
      return;
    }
    const { issuer, audience, jwksUrl } = settings;
    this.logger.debug(
      { verifiedWith: jwksUrl ? `JWKS ${jwksUrl}` : 'HS256 secret', issuer, audience },
      'end-user tokens on: the ticket routes need a Bearer JWT whose sub is the userId',
    );
    if (!issuer || !audience) {
      this.logger.warn(
        'USER_JWT_ISSUER or USER_JWT_AUDIENCE is not set: any token the key signed is accepted, also ' +
          "those meant for the identity provider's other applications",
      );
    }
  }

  /** Whether end-user tokens are required at all (USER_JWT_SECRET or USER_JWKS_URL set). */
  get enabled(): boolean {
    return this.key !== undefined;
  }

  /** The verified subject of `Authorization: Bearer <jwt>`; throws a 401 for anything else. */
  async subjectOf(authorization: string | string[] | undefined): Promise<string> {
    const token =
      typeof authorization === 'string'
        ? /^Bearer ([\w.-]+)$/i.exec(authorization)?.[1]
        : undefined;
    if (!token) throw new UserTokenMissingError();
    try {
      const { payload } = await this.verify(token);
      if (typeof payload.sub !== 'string' || payload.sub === '') throw new UserTokenInvalidError();
      return payload.sub;
    } catch (error) {
      if (error instanceof UserTokenInvalidError) throw error;
      // The provider's keys are out of reach: not the user's fault, and not a reason to sign anyone out.
      if (error instanceof IdentityProviderUnavailableError) throw new ServiceUnavailableError();
      if ((error as { code?: unknown }).code === 'ERR_JWT_EXPIRED')
        throw new UserTokenExpiredError();
      // Bad signature, other algorithm, wrong issuer or audience, not yet valid, malformed, no such key…
      throw new UserTokenInvalidError();
    }
  }

  private verify(token: string) {
    // Two overloads (a key, or a key function): the same call for both.
    return typeof this.key === 'function'
      ? jose.jwtVerify(token, this.key, this.options)
      : jose.jwtVerify(token, this.key!, this.options);
  }
}
