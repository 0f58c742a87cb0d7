import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AppConfig } from '../config/config';
import { resolveMaxConnections } from '../http/http-server';

/**
 * Everything an operator asks of a start, in ONE line at info (README: Logs): what runs, where, against
 * what, and how guarded. The details Nest and Fastify log on their way up are at debug.
 */
export function startupSummary(
  config: AppConfig,
  database: 'external' | { embedded: { port: number; dir: string } },
): Record<string, unknown> {
  const { userTokens, throttle } = config;
  return {
    version: packageVersion(),
    node: process.version,
    nodeEnv: config.nodeEnv,
    listen: `${config.host}:${config.port}`,
    workers: config.workers,
    database,
    migrateOnStart: config.database.migrateOnStart,
    redis: throttle.redisUrl ? 'throttle budgets shared' : 'off: budgets per instance',
    admin: config.adminToken
      ? 'ADMIN_TOKEN'
      : config.adminAuth === 'disabled'
        ? 'ADMIN_AUTH=disabled: a gateway guards it'
        : 'open: no ADMIN_TOKEN',
    userTokens: userTokens
      ? userTokens.jwksUrl
        ? `JWKS ${userTokens.jwksUrl}`
        : 'HS256'
      : 'off: userId trusted as sent',
    cors: config.corsOrigins.length > 0 ? config.corsOrigins : 'off',
    trustProxy: config.trustProxy,
    maxConnections: resolveMaxConnections(config),
    logLevel: config.logLevel,
    logRequests: config.logRequests,
  };
}

let version: string | undefined;

/** The version of package.json, found up from this file (src/ under ts-node, dist/src/ once built). */
function packageVersion(): string {
  if (version === undefined) {
    version = 'unknown';
    for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        version = String((JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version);
        break;
      }
    }
  }
  return version;
}
