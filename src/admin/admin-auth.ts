import { createHash, timingSafeEqual } from 'node:crypto';
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
  private readonly expected?: Buffer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.expected = config.adminToken ? digest(config.adminToken) : undefined;
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
    const header = request.headers.authorization;
    const token = typeof header === 'string' ? /^Bearer (.+)$/i.exec(header)?.[1] : undefined;
    // Digests have one length, so the comparison takes the same time whatever was sent.
    if (!token || !timingSafeEqual(digest(token), this.expected)) throw new AdminCredentialsError();
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
