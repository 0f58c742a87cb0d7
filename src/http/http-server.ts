import { readFileSync } from 'node:fs';
import { maxHeaderSize, type Server } from 'node:http';
import type { FastifyBaseLogger, FastifyHttpOptions } from 'fastify';
import type { AppConfig } from '../config/config';
import { clientErrorHandler, frameworkErrorHandler } from './client-errors';

/** Descriptors kept free for everything that is not a client: the database pool, Redis, files, logs. */
const RESERVED_DESCRIPTORS = 256;
/** An `auto` limit never goes above this, whatever the descriptor limit (memory stays bounded too). */
const AUTO_CONNECTIONS_CEILING = 10_000;
/** Connections refused at the limit are logged at most this often, with their count. */
const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * Fastify's HTTP settings that bound what one client can hold: how long a request may take to arrive,
 * how long an idle keep-alive socket is kept, the body limit, which proxies may name the client, and
 * the spec's error shape for what Node and Fastify refuse before a route runs.
 */
export function httpServerOptions(
  config: AppConfig,
  log: FastifyBaseLogger,
): FastifyHttpOptions<Server> {
  const { requestTimeoutMs, headersTimeoutMs, keepAliveTimeoutMs } = config.http;
  return {
    bodyLimit: config.bodyLimitBytes,
    // No parameter is too long for the router (its 414): Node refuses a longer request line first (431),
    // so an over-long eventKey or userId reaches validation and is the field's 400.
    routerOptions: { maxParamLength: maxHeaderSize },
    trustProxy: config.trustProxy,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    http: {
      headersTimeout: headersTimeoutMs,
      // Node checks the two timeouts on this period (30 s by default, far longer than the timeouts).
      connectionsCheckingInterval: Math.min(1_000, Math.ceil(headersTimeoutMs / 2)),
    },
    clientErrorHandler: clientErrorHandler(log),
    frameworkErrors: frameworkErrorHandler,
  };
}

/** The process's soft limit on open files, from /proc on Linux; undefined elsewhere. */
function descriptorLimit(): number | undefined {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** HTTP_MAX_CONNECTIONS resolved: `auto` stays below the descriptor limit, leaving room for the pool. */
export function resolveMaxConnections(config: AppConfig, limit = descriptorLimit()): number {
  const { maxConnections } = config.http;
  if (maxConnections !== 'auto') return maxConnections;
  if (limit === undefined) return AUTO_CONNECTIONS_CEILING;
  const reserve = RESERVED_DESCRIPTORS + config.database.poolMax;
  return Math.max(64, Math.min(AUTO_CONNECTIONS_CEILING, limit - reserve));
}

/**
 * Caps the open client connections below the descriptor limit: past it Node closes new connections at
 * once (instead of the process running out of descriptors for everything else). The first refusal is
 * logged at once, the ones after it counted and logged once per DROP_LOG_INTERVAL_MS.
 */
export function limitConnections(server: Server, config: AppConfig, log: FastifyBaseLogger): void {
  const maxConnections = resolveMaxConnections(config);
  server.maxConnections = maxConnections;
  let dropped = 0;
  let window: NodeJS.Timeout | undefined;
  server.on('drop', () => {
    if (window) {
      dropped += 1;
      return;
    }
    log.warn({ maxConnections }, 'connection refused: at the connection limit');
    window = setTimeout(() => {
      if (dropped > 0) {
        log.warn(
          { maxConnections, dropped, windowMs: DROP_LOG_INTERVAL_MS },
          'connections refused: at the connection limit',
        );
      }
      dropped = 0;
      window = undefined;
    }, DROP_LOG_INTERVAL_MS).unref();
  });
  // (The start-up summary says it.)
  log.debug({ maxConnections, descriptorLimit: descriptorLimit() }, 'connection limit');
}
