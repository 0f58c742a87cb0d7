import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
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

/** A request's route as the pipeline reads it: its flags and its pattern (undefined when none matched). */
interface RouteOfRequest {
  flags: RouteFlags;
  url: string | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Read once per request (routeOf): each read of Fastify's `routeOptions` builds an object of a dozen fields. */
    routeOfRequest: RouteOfRequest | null;
  }
}

/** Gives every request the slot routeOf fills (a decoration, so every request has the same shape). */
export function decorateRouteOfRequest(fastify: FastifyInstance): void {
  fastify.decorateRequest('routeOfRequest', null);
}

/**
 * The request's route, read from Fastify once; first read in the preHandler pipeline, after routing is
 * final (an unroutable target is sent to the not-found handler in onRequest).
 */
function routeOf(request: FastifyRequest): RouteOfRequest {
  let route = request.routeOfRequest;
  if (!route) {
    const { config, url } = request.routeOptions;
    route = { flags: (config ?? {}) as RouteFlags, url };
    request.routeOfRequest = route;
  }
  return route;
}

export function routeFlagsOf(request: FastifyRequest): RouteFlags {
  return routeOf(request).flags;
}

/** The route's pattern (`/events/:eventKey/tickets`), undefined when no route matched. */
export function routePatternOf(request: FastifyRequest): string | undefined {
  return routeOf(request).url;
}
