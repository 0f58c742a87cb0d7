import { BearerToken } from './bearer-token';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { AdminCredentialsError } from '../common/errors/domain-errors';
import type { RouteFlags } from '../common/route-flags';

/** The administrator of each request that passed the admin check. */
const actors = new WeakMap<FastifyRequest, string>();

/**
 * Event administration (routes flagged `admin`: POST /events, PATCH /events/:eventKey) needs
 * `Authorization: Bearer <ADMIN_TOKEN>` when ADMIN_TOKEN is set. A step of the preHandler pipeline, before
 * the Idempotency-Key, so a refused request never claims a key. In production ADMIN_TOKEN is required
 * (the configuration refuses to start without it) unless ADMIN_AUTH=disabled says they are guarded
 * otherwise (a gateway in front, or a port published on loopback only, as docker-compose.yml does); both
 * that and an unset token in development are said loudly at start-up, in one warning line.
 */
@Injectable()
export class AdminAuth implements OnApplicationBootstrap {
  private readonly logger = new Logger(AdminAuth.name);
  private readonly expected?: BearerToken;
  /**
   * Who administers, for the audit lines: the token's fingerprint; `gateway` when a gateway in front
   * authenticates (ADMIN_AUTH=disabled), `open` when nobody does (no ADMIN_TOKEN, development).
   */
  private readonly actor: string;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.expected = config.adminToken ? new BearerToken(config.adminToken) : undefined;
    this.actor =
      this.expected?.fingerprint ?? (config.adminAuth === 'disabled' ? 'gateway' : 'open');
  }

  onApplicationBootstrap(): void {
    if (this.expected) return;
    this.logger.warn(
      this.config.adminAuth === 'disabled'
        ? 'ADMIN_AUTH=disabled: event administration is OPEN, POST /events and PATCH ' +
            '/events/:eventKey take no token, so anyone who reaches this port can create events and ' +
            'switch them off. It must be reachable from this machine only (docker compose publishes ' +
            '127.0.0.1:3000) or only through a gateway that authenticates operators. Production ' +
            'posture: ADMIN_AUTH=token with ADMIN_TOKEN (openssl rand -hex 32), e.g. docker compose -f ' +
            'docker-compose.yml -f docker-compose.production.yml up -d.'
        : 'ADMIN_TOKEN is not set: anyone can create and switch off events. Set it outside local ' +
            'development (production refuses to start without it).',
    );
  }

  check(request: FastifyRequest, flags: RouteFlags): void {
    if (!flags.admin) return;
    if (this.expected && !this.expected.isIn(request.headers.authorization)) {
      throw new AdminCredentialsError();
    }
    actors.set(request, this.actor);
  }
}

/** The administrator of a request that passed the admin check (routes flagged `admin`). */
export function adminActorOf(request: FastifyRequest): string | undefined {
  return actors.get(request);
}
