import Redis from 'ioredis';
import { SharedRedis } from '../src/throttling/throttler-redis';
import { RedisServer, startRedisServer } from './support/redis-server';

const TIMEOUT_MS = 50;

/**
 * When shared throttling counts Redis as silent (THROTTLE_REDIS_TIMEOUT_MS), against a real redis-server:
 * a command Redis answered in time counts as answered even when this process was too busy to read it
 * before the time-out passed; a Redis that stops answering (SIGSTOP: the connection stays open) fails it.
 */
describe('SharedRedis: a silent Redis, not a busy process', () => {
  let redis: RedisServer;
  let shared: SharedRedis;

  beforeAll(async () => {
    redis = await startRedisServer();
    shared = new SharedRedis(
      new Redis(redis.url, { enableOfflineQueue: true, maxRetriesPerRequest: 0 }),
      TIMEOUT_MS,
    );
    // Connected before the tests, outside the time-out: connecting on a busy machine can take longer.
    await shared.redis.ping();
  });
  afterAll(async () => {
    shared.close();
    await redis.kill();
  });

  it('takes an answer that came while this process was busy past the time-out', async () => {
    const answer = shared.run(() => shared.redis.ping());
    // This process busy for 20 time-outs; Redis, a process of its own, answers meanwhile.
    const busyUntil = Date.now() + 20 * TIMEOUT_MS;
    while (Date.now() < busyUntil);
    await expect(answer).resolves.toBe('PONG');
    expect(shared.isUp).toBe(true);
  });

  it('fails a command a stopped Redis leaves unanswered', async () => {
    redis.process.kill('SIGSTOP');
    try {
      await expect(shared.run(() => shared.redis.ping())).rejects.toThrow(
        `Redis did not answer within ${TIMEOUT_MS} ms`,
      );
    } finally {
      redis.process.kill('SIGCONT');
    }
    await expect(shared.run(() => shared.redis.ping())).resolves.toBe('PONG');
  });
});
