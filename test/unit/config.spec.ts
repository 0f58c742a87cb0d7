import { loadConfig } from '../../src/config/config';

describe('configuration', () => {
  it('has documented defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.database.url).toBeUndefined();
    expect(config.database.poolMax).toBe(20);
    expect(config.idempotency.ttlSeconds).toBe(86_400);
    expect(config.throttle).toMatchObject({ ipLimit: 100, userLimit: 10, redisUrl: undefined });
    expect(config.adminToken).toBeUndefined();
    expect(config.corsOrigins).toEqual([]);
    expect(config.trustProxy).toBe(false);
    expect(config.http).toEqual({
      requestTimeoutMs: 10_000,
      headersTimeoutMs: 5_000,
      keepAliveTimeoutMs: 65_000,
      maxConnections: 'auto',
    });
    expect(config.database.queryTimeoutMs).toBe(config.database.statementTimeoutMs + 1_000);
    expect(config.throttle.redisTimeoutMs).toBe(250);
    expect(config.throttle).toMatchObject({
      ipTtlMs: 1_000,
      ipMaxDelayMs: 2_000,
      ipGraceMs: 30_000,
      ipReservationsPerAddress: 50_000,
      ipReservationsMax: 200_000,
    });
  });

  it.each([
    ['false', false],
    ['true', true],
    ['1', 1],
    ['2', 2],
    ['10.0.0.0/8', ['10.0.0.0/8']],
    ['10.0.0.1, 192.168.0.0/16,fd00::/8', ['10.0.0.1', '192.168.0.0/16', 'fd00::/8']],
  ])('takes TRUST_PROXY=%s', (value, expected) => {
    expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it('refuses an open administration in production unless a gateway is said to guard it', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      /ADMIN_TOKEN is required in production.*ADMIN_AUTH=disabled/,
    );
    expect(loadConfig({ NODE_ENV: 'production', ADMIN_TOKEN: 't'.repeat(32) }).adminAuth).toBe(
      'token',
    );
    expect(loadConfig({ NODE_ENV: 'production', ADMIN_AUTH: 'disabled' }).adminAuth).toBe(
      'disabled',
    );
    // Development keeps an open administration (with a warning at start).
    expect(loadConfig({}).adminToken).toBeUndefined();
    // A token that is set is never ignored: the refusal says how to require it, or how to go without.
    expect(() => loadConfig({ ADMIN_AUTH: 'disabled', ADMIN_TOKEN: 't'.repeat(32) })).toThrow(
      /set ADMIN_AUTH=token too.*docker-compose\.production\.yml.*unset ADMIN_TOKEN/,
    );
  });

  it('turns end-user tokens on with a secret or a JWKS, and the per-IP budget into a flood guard', () => {
    expect(loadConfig({}).userTokens).toBeUndefined();
    const hs = loadConfig({ USER_JWT_SECRET: 's'.repeat(32), USER_JWT_ISSUER: 'https://id' });
    expect(hs.userTokens).toMatchObject({ secret: 's'.repeat(32), issuer: 'https://id' });
    expect(hs.throttle.ipLimit).toBe(5_000);
    expect(loadConfig({}).throttle.ipLimit).toBe(100);
    const jwks = loadConfig({ USER_JWKS_URL: 'https://id.example/jwks.json' });
    expect(jwks.userTokens).toMatchObject({ jwksUrl: 'https://id.example/jwks.json' });
    expect(() =>
      loadConfig({ USER_JWT_SECRET: 's'.repeat(32), USER_JWKS_URL: 'https://id.example/j' }),
    ).toThrow('not both');
    expect(() => loadConfig({ USER_JWT_SECRET: 'short' })).toThrow('USER_JWT_SECRET');
    expect(() =>
      loadConfig({
        NODE_ENV: 'production',
        ADMIN_AUTH: 'disabled',
        USER_JWKS_URL: 'http://id.example/jwks.json',
      }),
    ).toThrow('USER_JWKS_URL must be https in production');
  });

  it('derives the client-side query deadline from the statement timeout unless set', () => {
    expect(loadConfig({ DB_STATEMENT_TIMEOUT_MS: '800' }).database.queryTimeoutMs).toBe(1_800);
    expect(loadConfig({ DB_QUERY_TIMEOUT_MS: '9000' }).database.queryTimeoutMs).toBe(9_000);
  });

  it('converts and splits values from the environment', () => {
    const config = loadConfig({
      PORT: '8080',
      CORS_ORIGINS: 'https://a.example, https://b.example',
    });
    expect(config.port).toBe(8080);
    expect(config.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://localhost/x' }, 'DATABASE_URL'],
    [{ DB_POOL_MIN: '30', DB_POOL_MAX: '10' }, 'DB_POOL_MIN'],
    [{ ADMIN_TOKEN: 'short' }, 'ADMIN_TOKEN'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ THROTTLE_IP_LIMIT: '0' }, 'THROTTLE_IP_LIMIT'],
    // Retry-After is whole seconds: a shorter bound is one a client told to come back cannot land in.
    [{ THROTTLE_IP_MAX_DELAY_MS: '500' }, 'THROTTLE_IP_MAX_DELAY_MS'],
    [{ THROTTLE_IP_RESERVATION_GRACE_MS: '0' }, 'THROTTLE_IP_RESERVATION_GRACE_MS'],
    [{ THROTTLE_IP_RESERVATIONS_PER_ADDRESS: '0' }, 'THROTTLE_IP_RESERVATIONS_PER_ADDRESS'],
    [{ TRUST_PROXY: 'yes' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '0' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '10.0.0.1,proxy.internal' }, 'TRUST_PROXY'],
    [{ HTTP_HEADERS_TIMEOUT_MS: '20000' }, 'HTTP_HEADERS_TIMEOUT_MS'],
    [{ HTTP_MAX_CONNECTIONS: 'lots' }, 'HTTP_MAX_CONNECTIONS'],
    [{ DB_STATEMENT_TIMEOUT_MS: '5000', DB_QUERY_TIMEOUT_MS: '1000' }, 'DB_QUERY_TIMEOUT_MS'],
  ])('refuses %j with a message naming %s', (env, name) => {
    expect(() => loadConfig(env)).toThrow(name);
  });
});
