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
  ])('refuses %j with a message naming %s', (env, name) => {
    expect(() => loadConfig(env)).toThrow(name);
  });
});
