import { randomUUID } from 'node:crypto';
import { suiteRedisUrl } from './support/redis-server';
import { servicesOnFreshDatabase } from './support/service-fixture';
import { ServiceProcess, waitUntil } from './support/service-process';
import { TcpProxy } from './support/tcp-proxy';

const LIMIT = 4;

/**
 * Redis goes away under two instances of the production build that share throttle budgets through it
 * (a TCP proxy the test owns stands for Redis: stopped, then started again, or silent). Requests are
 * answered as usual — budgets per instance meanwhile — with one JSON warning each way per instance.
 */
describe('a Redis outage', () => {
  const services = servicesOnFreshDatabase();
  let redis: TcpProxy;
  let a: ServiceProcess;
  let b: ServiceProcess;

  beforeAll(async () => {
    const suiteRedis = new URL(suiteRedisUrl());
    redis = await TcpProxy.start({ host: suiteRedis.hostname, port: Number(suiteRedis.port) });
    const env = {
      REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      THROTTLE_KEY_PREFIX: `outage-${randomUUID()}`,
      THROTTLE_IP_LIMIT: String(LIMIT),
      THROTTLE_IP_TTL_MS: '60000',
      // Silence is noticed by a command timing out; the default 250 ms also took an instance's event loop
      // held that long on a busy machine for silence. Each silent phase waits this out once per instance.
      THROTTLE_REDIS_TIMEOUT_MS: '2000',
      // The test names the client in X-Forwarded-For, as the one proxy in front would.
      TRUST_PROXY: '1',
    };
    [a, b] = await Promise.all([services.start(env), services.start(env)]);
  });
  afterAll(() => redis.stop());

  /** Statuses of GET /events sent alternately to a and b for one client address. */
  async function alternate(client: string, count: number): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < count; i++) {
      const service = i % 2 === 0 ? a : b;
      const response = await fetch(`${service.url}/events`, {
        headers: { 'x-forwarded-for': client },
      });
      statuses.push(response.status);
    }
    return statuses;
  }

  const warnings = (service: ServiceProcess, text: string) =>
    service.logs().filter((e) => e.level === 40 && String(e.msg).startsWith(text));

  it('spends one budget across instances while Redis answers', async () => {
    expect(await alternate('198.51.100.1', LIMIT + 2)).toEqual([200, 200, 200, 200, 429, 429]);
  });

  it('keeps answering when Redis stops — a budget per instance — and shares again once it is back', async () => {
    await redis.stop();
    // Each instance now counts on its own: LIMIT each, so twice LIMIT across the two.
    const local = await alternate('198.51.100.2', 2 * LIMIT + 2);
    expect(local).toEqual([...Array(2 * LIMIT).fill(200), 429, 429]);
    for (const service of [a, b]) expect(warnings(service, 'Redis unreachable')).toHaveLength(1);

    await redis.start();
    await waitUntil(
      () => Promise.resolve([a, b].every((s) => warnings(s, 'Redis answers again').length === 1)),
      15_000,
      () => 'the instances did not see Redis come back',
    );
    expect(await alternate('198.51.100.3', LIMIT + 2)).toEqual([200, 200, 200, 200, 429, 429]);
  });

  it('keeps answering when Redis goes silent, and shares again once it answers', async () => {
    redis.pause();
    const silent = await alternate('198.51.100.4', 2 * LIMIT + 2);
    expect(silent).toEqual([...Array(2 * LIMIT).fill(200), 429, 429]);
    for (const service of [a, b]) expect(warnings(service, 'Redis unreachable')).toHaveLength(2);

    redis.resume();
    await waitUntil(
      () => Promise.resolve([a, b].every((s) => warnings(s, 'Redis answers again').length === 2)),
      15_000,
      () => 'the instances did not hear Redis again',
    );
    expect(await alternate('198.51.100.5', LIMIT + 2)).toEqual([200, 200, 200, 200, 429, 429]);
  });

  it('wrote only JSON lines: no unhandled ioredis errors on stderr', () => {
    for (const service of [a, b]) {
      expect(service.logs()).toHaveLength(service.lines.length);
      expect(service.lines.join('\n')).not.toContain('Unhandled error event');
      expect(service.logs().filter((e) => Number(e.level) >= 50)).toEqual([]);
    }
  });
});
