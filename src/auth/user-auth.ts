import { Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { OtherUserError } from '../common/errors/domain-errors';
import { routeFlagsOf } from '../common/route-flags';
import { UserTokens } from './user-tokens';

/** The verified user of each request that carried a valid end-user token. */
const verified = new WeakMap<FastifyRequest, string>();

/** A userId as the routes accept it (anything else is the validation's 400 to give). */
const USER_ID = /^[1-9][0-9]{0,15}$/;

/**
 * The end-user check on the routes flagged `userToken` (issue a ticket, list a user's tickets), when
 * end-user tokens are on: a missing or invalid token is a 401, a valid one for another user a 403. It runs
 * as a step of the preHandler pipeline (app.setup.ts) after the per-IP flood guard and before the per-user
 * budget and the Idempotency-Key, so a refused request claims nothing and costs no database work; those
 * two then go by the verified user.
 */
@Injectable()
export class UserAuth {
  constructor(private readonly tokens: UserTokens) {}

  async check(request: FastifyRequest): Promise<void> {
    const where = routeFlagsOf(request).userToken;
    if (!where || !this.tokens.enabled) return;
    const subject = await this.tokens.subjectOf(request.headers.authorization);
    const asked =
      where === 'body'
        ? (request.body as { userId?: unknown } | undefined)?.userId
        : (request.params as { userId?: unknown }).userId;
    const userId = typeof asked === 'number' || typeof asked === 'string' ? String(asked) : '';
    if (USER_ID.test(userId) && userId !== subject) throw new OtherUserError();
    verified.set(request, subject);
  }
}

/** The user a valid end-user token proved this request comes from; undefined when tokens are off. */
export function verifiedUserOf(request: FastifyRequest): string | undefined {
  return verified.get(request);
}
