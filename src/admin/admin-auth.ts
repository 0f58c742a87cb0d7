import { BearerToken } from '../common/bearer-token';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { AdminCredentialsError } from '../common/errors/domain-errors';
import { routeFlagsOf } from '../common/route-flags';

/**
 * Event administration (routes flagged `admin`: POST /events, PATCH /events/:eventKey) needs
 * `Authorization: Bearer <ADMIN_TOKEN>` when ADMIN_TOKEN is set. Runs as a Fastify preHandler, before the
 * Idempotency-Key hook, so a refused request never claims a key. Unset, administration is open and a warning
 * says so at start-up.
 */
@Injectable()
export class AdminAuth implements OnApplicationBootstrap {
  private readonly logger = new Logger(AdminAuth.name);
  private readonly expected?: BearerToken;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.expected = config.adminToken ? new BearerToken(config.adminToken) : undefined;
  }

  onApplicationBootstrap(): void {
    if (!this.expected) {
      this.logger.warn(
        'ADMIN_TOKEN is not set: anyone can create and switch off events. Set it outside local development.',
      );
    }
  }

  check(request: FastifyRequest): void {
    if (!this.expected || !routeFlagsOf(request).admin) return;
    if (!this.expected.isIn(request.headers.authorization)) throw new AdminCredentialsError();
  }
}
