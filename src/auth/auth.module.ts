import { Module } from '@nestjs/common';
import { AdminAuth } from './admin-auth';
import { UserAuth } from './user-auth';
import { UserTokens } from './user-tokens';

/** Who may call what: the admin token on event administration, end-user tokens on the ticket routes. */
@Module({ providers: [AdminAuth, UserAuth, UserTokens], exports: [AdminAuth, UserAuth] })
export class AuthModule {}
