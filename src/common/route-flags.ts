import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import type { RouteInput } from '../http/route-input';

/** What the Fastify hooks (app.setup.ts) need to know of a route; set on the Nest handler. */
export interface RouteFlags {
  /** The body's `userId` gets a throttle budget of its own. */
  throttlePerUser?: boolean;
  /** The use case judges and stores the Idempotency-Key inside its own transaction. */
  idempotencyInTransaction?: boolean;
  /** Needs `Authorization: Bearer <ADMIN_TOKEN>` when ADMIN_TOKEN is set. */
  admin?: boolean;
  /**
   * With end-user tokens on, needs `Authorization: Bearer <jwt>` whose subject is the route's userId,
   * found in the body or in the path parameters.
   */
  userToken?: 'body' | 'params';
  /** For orchestrators and monitoring (probes, scrapes): never throttled, its request line at debug. */
  operational?: boolean;
  /** A Nest route's input, validated before the Idempotency-Key (http/route-input.ts). */
  input?: RouteInput;
}

export const WithRouteFlags = (flags: RouteFlags) => RouteConfig(flags);

export function routeFlagsOf(request: FastifyRequest): RouteFlags {
  return (request.routeOptions.config ?? {}) as RouteFlags;
}
