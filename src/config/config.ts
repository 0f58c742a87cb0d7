import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import * as Joi from 'joi';
import type { RequestLogMode } from '../logging/request-log';

/** Every setting of the service, validated once at start-up. Names and defaults are documented in README.md. */
export interface AppConfig {
  nodeEnv: 'development' | 'production' | 'test';
  host: string;
  port: number;
  /**
   * Which peers may set X-Forwarded-For: false (none), true (all — logged as a warning), a hop count, or
   * addresses/CIDRs. The client address is the first untrusted one (Fastify's trustProxy).
   */
  trustProxy: boolean | number | string[];
  http: HttpLimits;
  /** Processes serving the port (node:cluster workers); 1 runs the server in this process. */
  workers: number;
  /** Unset: event administration is open (local development only). */
  adminToken: string | undefined;
  /** 'disabled': no token on the admin routes, because a gateway in front guards them (logged loudly). */
  adminAuth: 'token' | 'disabled';
  /** End-user tokens on the ticket routes; undefined: off, `userId` is trusted as sent. */
  userTokens: UserTokenSettings | undefined;
  /** When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`. */
  metricsToken: string | undefined;
  /** Origins allowed by CORS; empty: CORS off. */
  corsOrigins: string[];
  /** Serve Swagger UI at /docs (the document at /docs-json is always served). */
  docsUi: boolean;
  bodyLimitBytes: number;
  logLevel: string;
  /** Which requests get their one log line (logging/request-log.ts). */
  logRequests: RequestLogMode;
  shutdownGraceMs: number;
  shutdownReadinessDelayMs: number;
  database: {
    /** Unset means: start an embedded PostgreSQL (see database/embedded-postgres.ts). */
    url: string | undefined;
    embeddedDir: string;
    embeddedPort: number;
    poolMin: number;
    poolMax: number;
    acquireTimeoutMs: number;
    statementTimeoutMs: number;
    /** Client side: a query unanswered this long destroys its connection (a silent database). */
    queryTimeoutMs: number;
    migrateOnStart: boolean;
  };
  issuance: {
    txMaxAttempts: number;
    txRetryBaseMs: number;
    batchMax: number;
    queueMax: number;
    /** Holders of events whose refusals became final kept in memory, over all such events. */
    settledMaxHolders: number;
  };
  idempotency: {
    ttlSeconds: number;
    lockTimeoutSeconds: number;
    purgeIntervalSeconds: number;
    purgeBatchSize: number;
    /** Answered keys each process remembers, to replay retransmissions without the database. */
    memoryKeys: number;
  };
  throttle: {
    /** The per-address line (throttling/ordered-admission.ts): places per window, the burst of an idle address. */
    ipLimit: number;
    ipTtlMs: number;
    /** A place this close is waited for; a farther one is refused 429 and kept as a reservation. */
    ipMaxDelayMs: number;
    /** A reservation lives until this long after its place. */
    ipGraceMs: number;
    ipReservationsPerAddress: number;
    /** Reservations each process keeps in memory, over all addresses. */
    ipReservationsMax: number;
    userLimit: number;
    userTtlMs: number;
    redisUrl: string | undefined;
    /** Namespaces the counters, so services sharing one Redis keep separate budgets. */
    keyPrefix: string;
    /** A Redis command unanswered this long counts as Redis down: memory budgets until it answers. */
    redisTimeoutMs: number;
  };
}

/** How end-user JWTs are checked (USER_JWT_*, USER_JWKS_*). */
export interface UserTokenSettings {
  /** HS256 with this shared secret, or… */
  secret?: string;
  /** …RS256/ES256 with the identity provider's keys, fetched from here. */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  clockToleranceSeconds: number;
  /** An unknown key id refetches the JWKS, at most this often. */
  jwksCooldownMs: number;
}

/** Bounds on what one client can hold of the HTTP server. */
export interface HttpLimits {
  /** The whole request, headers and body, must arrive within this (408). */
  requestTimeoutMs: number;
  /** The headers must arrive within this; a connection that sends nothing is closed after it. */
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** 'auto': below the process's file-descriptor limit (see http/connection-limit.ts). */
  maxConnections: number | 'auto';
}

const schema = Joi.object({
  NODE_ENV: Joi.string().valid('development', 'production', 'test').default('development'),
  HOST: Joi.string().default('0.0.0.0'),
  PORT: Joi.number().port().default(3000),
  TRUST_PROXY: Joi.string()
    .trim()
    .default(false)
    .custom((value: string, helpers) => parseTrustProxy(value) ?? helpers.error('any.invalid'))
    .messages({
      'any.invalid':
        '"TRUST_PROXY" must be true, false, a hop count (1, 2, …) or comma-separated proxy addresses/CIDRs',
    }),
  WORKERS: Joi.alternatives()
    .try(Joi.number().integer().min(1).max(256), Joi.string().valid('auto'))
    .default(1),
  HTTP_REQUEST_TIMEOUT_MS: Joi.number().integer().min(100).default(10_000),
  HTTP_HEADERS_TIMEOUT_MS: Joi.number()
    .integer()
    .min(100)
    .max(Joi.ref('HTTP_REQUEST_TIMEOUT_MS'))
    .default(5_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: Joi.number().integer().min(100).default(65_000),
  HTTP_MAX_CONNECTIONS: Joi.alternatives()
    .try(Joi.number().integer().min(1), Joi.string().valid('auto'))
    .default('auto'),
  // An empty value (`ADMIN_TOKEN=` in a compose file) means unset, like the other optional secrets.
  ADMIN_TOKEN: Joi.string().empty('').min(16).max(512).optional(),
  ADMIN_AUTH: Joi.string().valid('token', 'disabled').default('token'),
  // RFC 7518: an HS256 key is at least as long as the hash, 256 bits.
  USER_JWT_SECRET: Joi.string().empty('').min(32).max(1024).optional(),
  USER_JWKS_URL: Joi.string()
    .empty('')
    .uri({ scheme: ['https', 'http'] })
    .optional(),
  USER_JWT_ISSUER: Joi.string().empty('').max(1024).optional(),
  USER_JWT_AUDIENCE: Joi.string().empty('').max(1024).optional(),
  USER_JWT_CLOCK_TOLERANCE_SECONDS: Joi.number().integer().min(0).max(300).default(5),
  USER_JWKS_COOLDOWN_MS: Joi.number().integer().min(0).default(30_000),
  METRICS_TOKEN: Joi.string().empty('').min(16).max(512).optional(),
  CORS_ORIGINS: Joi.string().allow('').default(''),
  DOCS_UI: Joi.boolean().default(true),
  BODY_LIMIT_BYTES: Joi.number()
    .integer()
    .min(256)
    .default(16 * 1024),
  LOG_LEVEL: Joi.string()
    .valid('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent')
    .default('info'),
  LOG_REQUESTS: Joi.string().valid('all', 'errors', 'sampled').default('all'),
  SHUTDOWN_GRACE_MS: Joi.number().integer().min(0).default(15_000),
  SHUTDOWN_READINESS_DELAY_MS: Joi.number().integer().min(0).default(2_000),

  DATABASE_URL: Joi.string()
    .empty('')
    .uri({ scheme: ['postgres', 'postgresql'] })
    .optional(),
  EMBEDDED_PG_DIR: Joi.string().default('.data/postgres'),
  EMBEDDED_PG_PORT: Joi.number().port().default(54329),
  DB_POOL_MIN: Joi.number().integer().min(0).default(2),
  // Two at least: an advisory lock holds one connection while the work under it may need another.
  DB_POOL_MAX: Joi.number().integer().min(2).default(20),
  DB_ACQUIRE_TIMEOUT_MS: Joi.number().integer().min(100).default(3_000),
  DB_STATEMENT_TIMEOUT_MS: Joi.number().integer().min(100).default(5_000),
  DB_QUERY_TIMEOUT_MS: Joi.number()
    .integer()
    .min(Joi.ref('DB_STATEMENT_TIMEOUT_MS'))
    .default((env: { DB_STATEMENT_TIMEOUT_MS: number }) => env.DB_STATEMENT_TIMEOUT_MS + 1_000),
  MIGRATE_ON_START: Joi.boolean().default(true),

  ISSUE_TX_MAX_ATTEMPTS: Joi.number().integer().min(1).max(50).default(12),
  ISSUE_TX_RETRY_BASE_MS: Joi.number().integer().min(0).default(4),
  ISSUE_BATCH_MAX: Joi.number().integer().min(1).max(5_000).default(500),
  ISSUE_QUEUE_MAX: Joi.number().integer().min(1).default(20_000),
  SETTLED_EVENT_MAX_HOLDERS: Joi.number().integer().min(0).default(100_000),

  IDEMPOTENCY_TTL_SECONDS: Joi.number()
    .integer()
    .min(1)
    .default(24 * 60 * 60),
  IDEMPOTENCY_LOCK_TIMEOUT_SECONDS: Joi.number().integer().min(1).default(30),
  // A sweep reads the whole key table: hourly, a drop's keys are passed 24 times in their lifetime, and
  // an expired one stays at most an hour (judge() treats it as absent meanwhile).
  IDEMPOTENCY_PURGE_INTERVAL_SECONDS: Joi.number()
    .integer()
    .min(1)
    .default(60 * 60),
  IDEMPOTENCY_PURGE_BATCH_SIZE: Joi.number().integer().min(1).default(1_000),
  IDEMPOTENCY_MEMORY_KEYS: Joi.number().integer().min(0).default(50_000),

  // A coarse flood guard. With end-user tokens, fairness is the per-user budget (by verified user), and a
  // thousand users behind one carrier NAT must not share 100 requests a second.
  THROTTLE_IP_LIMIT: Joi.number()
    .integer()
    .min(1)
    .default((env: Record<string, unknown>) =>
      env.USER_JWT_SECRET || env.USER_JWKS_URL ? 5_000 : 100,
    ),
  THROTTLE_IP_TTL_MS: Joi.number().integer().min(1).default(1_000),
  // Retry-After is whole seconds: a bound of a second at least is what a client told to come back can land in.
  THROTTLE_IP_MAX_DELAY_MS: Joi.number().integer().min(1_000).max(30_000).default(2_000),
  THROTTLE_IP_RESERVATION_GRACE_MS: Joi.number().integer().min(1_000).default(30_000),
  THROTTLE_IP_RESERVATIONS_PER_ADDRESS: Joi.number().integer().min(1).default(50_000),
  THROTTLE_IP_RESERVATIONS_MAX: Joi.number().integer().min(1).default(200_000),
  THROTTLE_USER_LIMIT: Joi.number().integer().min(1).default(10),
  THROTTLE_USER_TTL_MS: Joi.number().integer().min(1).default(10_000),
  THROTTLE_KEY_PREFIX: Joi.string().max(100).default('golden-ticket'),
  REDIS_URL: Joi.string()
    .empty('')
    .uri({ scheme: ['redis', 'rediss'] })
    .optional(),
  THROTTLE_REDIS_TIMEOUT_MS: Joi.number().integer().min(10).default(250),
})
  .custom((env: Record<string, unknown>, helpers) => {
    const problem = inconsistency(env);
    return problem ? helpers.message({ custom: problem }) : env;
  })
  .unknown(true);

/** Settings that are each valid but wrong together. */
function inconsistency(env: Record<string, unknown>): string | undefined {
  if ((env.DB_POOL_MIN as number) > (env.DB_POOL_MAX as number)) {
    return 'DB_POOL_MIN must not exceed DB_POOL_MAX';
  }
  if (env.USER_JWT_SECRET && env.USER_JWKS_URL) {
    return 'set USER_JWT_SECRET (HS256) or USER_JWKS_URL (RS256/ES256), not both';
  }
  if (
    env.NODE_ENV === 'production' &&
    typeof env.USER_JWKS_URL === 'string' &&
    !env.USER_JWKS_URL.startsWith('https:')
  ) {
    return 'USER_JWKS_URL must be https in production: keys fetched in clear text can be replaced';
  }
  // A token someone set is never silently ignored: say how to have it required, or how to go without.
  if (env.ADMIN_AUTH === 'disabled' && env.ADMIN_TOKEN) {
    return (
      'ADMIN_AUTH=disabled and ADMIN_TOKEN are both set. To require the token, set ADMIN_AUTH=token ' +
      'too (with docker compose: ADMIN_AUTH=token in .env beside ADMIN_TOKEN, or run the production ' +
      'file: docker compose -f docker-compose.yml -f docker-compose.production.yml up -d); to leave ' +
      'event administration open, unset ADMIN_TOKEN.'
    );
  }
  if (env.NODE_ENV === 'production' && !env.ADMIN_TOKEN && env.ADMIN_AUTH !== 'disabled') {
    return (
      'ADMIN_TOKEN is required in production (16+ characters, e.g. `openssl rand -hex 32`): without it ' +
      'anyone could create and switch off events. If a gateway in front guards POST /events and ' +
      'PATCH /events/:eventKey, set ADMIN_AUTH=disabled instead.'
    );
  }
  return undefined;
}

/** Validates the environment; throws an error naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const result: Joi.ValidationResult<Record<string, never>> = schema.validate(env, {
    abortEarly: false,
    convert: true,
  });
  if (result.error) {
    const problems = result.error.details.map((detail) => detail.message).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  const v = result.value;
  return {
    nodeEnv: v.NODE_ENV,
    host: v.HOST,
    port: v.PORT,
    trustProxy: v.TRUST_PROXY,
    workers: v.WORKERS === 'auto' ? availableParallelism() : v.WORKERS,
    http: {
      requestTimeoutMs: v.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: v.HTTP_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: v.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: v.HTTP_MAX_CONNECTIONS,
    },
    adminToken: v.ADMIN_TOKEN,
    adminAuth: v.ADMIN_AUTH,
    userTokens:
      v.USER_JWT_SECRET || v.USER_JWKS_URL
        ? {
            secret: v.USER_JWT_SECRET,
            jwksUrl: v.USER_JWKS_URL,
            issuer: v.USER_JWT_ISSUER,
            audience: v.USER_JWT_AUDIENCE,
            clockToleranceSeconds: v.USER_JWT_CLOCK_TOLERANCE_SECONDS,
            jwksCooldownMs: v.USER_JWKS_COOLDOWN_MS,
          }
        : undefined,
    metricsToken: v.METRICS_TOKEN,
    docsUi: v.DOCS_UI,
    corsOrigins: (v.CORS_ORIGINS as string)
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean),
    bodyLimitBytes: v.BODY_LIMIT_BYTES,
    logLevel: v.LOG_LEVEL,
    logRequests: v.LOG_REQUESTS,
    shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
    shutdownReadinessDelayMs: v.SHUTDOWN_READINESS_DELAY_MS,
    database: {
      url: v.DATABASE_URL,
      embeddedDir: v.EMBEDDED_PG_DIR,
      embeddedPort: v.EMBEDDED_PG_PORT,
      poolMin: v.DB_POOL_MIN,
      poolMax: v.DB_POOL_MAX,
      acquireTimeoutMs: v.DB_ACQUIRE_TIMEOUT_MS,
      statementTimeoutMs: v.DB_STATEMENT_TIMEOUT_MS,
      queryTimeoutMs: v.DB_QUERY_TIMEOUT_MS,
      migrateOnStart: v.MIGRATE_ON_START,
    },
    issuance: {
      txMaxAttempts: v.ISSUE_TX_MAX_ATTEMPTS,
      txRetryBaseMs: v.ISSUE_TX_RETRY_BASE_MS,
      batchMax: v.ISSUE_BATCH_MAX,
      queueMax: v.ISSUE_QUEUE_MAX,
      settledMaxHolders: v.SETTLED_EVENT_MAX_HOLDERS,
    },
    idempotency: {
      ttlSeconds: v.IDEMPOTENCY_TTL_SECONDS,
      lockTimeoutSeconds: v.IDEMPOTENCY_LOCK_TIMEOUT_SECONDS,
      purgeIntervalSeconds: v.IDEMPOTENCY_PURGE_INTERVAL_SECONDS,
      purgeBatchSize: v.IDEMPOTENCY_PURGE_BATCH_SIZE,
      memoryKeys: v.IDEMPOTENCY_MEMORY_KEYS,
    },
    throttle: {
      ipLimit: v.THROTTLE_IP_LIMIT,
      ipTtlMs: v.THROTTLE_IP_TTL_MS,
      ipMaxDelayMs: v.THROTTLE_IP_MAX_DELAY_MS,
      ipGraceMs: v.THROTTLE_IP_RESERVATION_GRACE_MS,
      ipReservationsPerAddress: v.THROTTLE_IP_RESERVATIONS_PER_ADDRESS,
      ipReservationsMax: v.THROTTLE_IP_RESERVATIONS_MAX,
      userLimit: v.THROTTLE_USER_LIMIT,
      userTtlMs: v.THROTTLE_USER_TTL_MS,
      redisUrl: v.REDIS_URL,
      keyPrefix: v.THROTTLE_KEY_PREFIX,
      redisTimeoutMs: v.THROTTLE_REDIS_TIMEOUT_MS,
    },
  };
}

/** An address, or an address with a prefix length (`10.0.0.0/8`, `fd00::/8`). */
function isAddressOrCidr(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** TRUST_PROXY's forms; undefined when the value is none of them. */
function parseTrustProxy(value: string): boolean | number | string[] | undefined {
  if (value === 'true') return true;
  if (value === 'false' || value === '') return false;
  if (/^\d+$/.test(value)) return Number(value) >= 1 ? Number(value) : undefined;
  const entries = value.split(',').map((entry) => entry.trim());
  return entries.every(isAddressOrCidr) ? entries : undefined;
}
