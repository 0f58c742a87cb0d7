import { expectApiInBriefAnswers } from './support/api-in-brief';
import { containerEnvironment, loadCompose } from './support/compose';
import { freePort } from './support/embedded-server';
import { RedisServer, startRedisServer } from './support/redis-server';
import { ServiceProcess, startService, waitUntilReady } from './support/service-process';
import { createTestDatabase } from './support/test-database';

/**
 * `docker compose up` as the assignment types it, with no .env: the production build started with exactly
 * the environment docker-compose.yml gives the app container (the image's ENV, then the file's
 * `environment`, interpolated as Compose does with nothing set). Only where it runs changes: DATABASE_URL
 * and REDIS_URL point at this test's PostgreSQL database (empty, as the stack's is at its first start)
 * and Redis, HOST and PORT at a free loopback port, as lb reaches the app. The README's API block then
 * answers as printed, administration included, with the open administration said at start.
 */
describe('docker compose up, no .env: the app with the compose environment', () => {
  const { model, warnings } = loadCompose(['docker-compose.yml']);
  const composeEnv = containerEnvironment(model.services.app);
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let redis: RedisServer;
  let service: ServiceProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(false), startRedisServer()]);
    env = {
      ...composeEnv,
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
    };
    service = await startService(env, { testDefaults: false });
    await waitUntilReady(service);
  });

  afterAll(async () => {
    await service?.stop();
    await Promise.all([redis?.stop(), database?.drop()]);
  });

  it('runs with the compose environment, only the addresses changed', () => {
    expect(warnings).toEqual([]);
    expect(composeEnv).toMatchObject({
      NODE_ENV: 'production',
      ADMIN_AUTH: 'disabled',
      MIGRATE_ON_START: 'true',
    });
    expect(composeEnv.ADMIN_TOKEN).toBeUndefined();
    const changed = Object.keys({ ...composeEnv, ...env }).filter(
      (name) => composeEnv[name] !== env[name],
    );
    expect(changed.sort()).toEqual(['DATABASE_URL', 'HOST', 'PORT', 'REDIS_URL']);
  });

  it('says at start, in one warning line, that administration is open and how to close it', () => {
    const warningsAtStart = service.logs().filter((entry) => Number(entry.level) >= 40);
    expect(warningsAtStart).toHaveLength(1);
    const [warning] = warningsAtStart;
    expect(warning.level).toBe(40);
    expect(warning.msg).toMatch(/^ADMIN_AUTH=disabled: event administration is OPEN/);
    for (const said of [
      'POST /events',
      'PATCH /events/:eventKey',
      'this machine only',
      '127.0.0.1:3000',
      'ADMIN_AUTH=token',
      'docker compose -f docker-compose.yml -f docker-compose.production.yml up -d',
    ]) {
      expect(warning.msg).toContain(said);
    }
  });

  it('answers the README\'s "The API in brief" block as printed, without a token', () => {
    expectApiInBriefAnswers(service.url);
  });
});
