import { request as httpRequest } from 'node:http';
import { parseExposition, valueOf } from './support/exposition';
import { servicesOnFreshDatabase } from './support/service-fixture';
import { STUCK_AFTER_MS, ServiceProcess, runUntilExit, waitUntil } from './support/service-process';

/** One request on a connection of its own (the cluster hands each new connection to the next worker). */
function getOnNewConnection(url: string): Promise<number> {
  return getTextOnNewConnection(url).then(({ status }) => status);
}

function getTextOnNewConnection(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const sent = httpRequest(
      url,
      { agent: false, headers: { connection: 'close' } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    sent.on('error', reject);
    sent.end();
  });
}

/**
 * WORKERS=2: the production build as a cluster primary with two workers sharing the port — both answer,
 * each spends its share of the (memory) throttle budget, a killed worker is replaced, SIGTERM drains both.
 */
describe('WORKERS=2', () => {
  const services = servicesOnFreshDatabase();
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await services.start({
      WORKERS: '2',
      THROTTLE_IP_LIMIT: '6',
      THROTTLE_IP_TTL_MS: '60000',
      SHUTDOWN_READINESS_DELAY_MS: '1000',
    });
  });

  const listening = () => service.logs().filter((entry) => entry.msg === 'worker listening');

  /** The pids that wrote request lines for `path`. */
  const answeringPids = (path: string) =>
    service
      .logs()
      .filter((entry) => entry.msg === 'request completed' && entry.url === path)
      .map((entry) => entry.pid as number);

  it('says how throttle budgets are kept, and both workers answer', async () => {
    expect(service.logs().find((entry) => entry.msg === 'starting workers')).toMatchObject({
      workers: 2,
      throttleBudgets: expect.stringContaining('per worker'),
    });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push(await getOnNewConnection(`${service.url}/events`));
    const pids = new Set(answeringPids('/events'));
    expect(pids.size).toBe(2);
    expect(pids.has(service.child.pid!)).toBe(false);
    // THROTTLE_IP_LIMIT=6 over two workers without Redis: each worker lets 3 through.
    expect(statuses.filter((status) => status === 200)).toHaveLength(6);
    const okByPid = new Map<number, number>();
    for (const entry of service.logs()) {
      if (
        entry.msg === 'request completed' &&
        entry.url === '/events' &&
        entry.statusCode === 200
      ) {
        okByPid.set(entry.pid as number, (okByPid.get(entry.pid as number) ?? 0) + 1);
      }
    }
    expect([...okByPid.values()]).toEqual([3, 3]);
  });

  it('answers /metrics for the whole process tree, whichever worker is asked', async () => {
    for (let i = 0; i < 4; i++) {
      const { status, text } = await getTextOnNewConnection(`${service.url}/metrics`);
      expect(status).toBe(200);
      const samples = parseExposition(text);
      // The 10 requests above, over both workers: 6 answered, 4 throttled.
      expect(valueOf(samples, 'golden_ticket_throttled_requests_total', { scope: 'ip' })).toBe(4);
      expect(
        valueOf(samples, 'http_request_duration_seconds_count', {
          route: '/events',
          status_code: '200',
        }),
      ).toBe(6);
    }
  });

  it('replaces a worker that dies', async () => {
    const [victim] = new Set(answeringPids('/events'));
    process.kill(victim, 'SIGKILL');
    await waitUntil(
      () => Promise.resolve(service.logs().some((e) => e.msg === 'worker died: restarting it')),
      STUCK_AFTER_MS,
      () => 'the primary did not notice the dead worker',
    );
    expect(service.logs().find((e) => e.msg === 'worker died: restarting it')).toMatchObject({
      level: 50,
      workerPid: victim,
      signal: 'SIGKILL',
    });
    // The replacement listens, then serves.
    await waitUntil(
      () => Promise.resolve(listening().length === 3),
      STUCK_AFTER_MS,
      () => 'no replacement worker listened',
    );
    const replacement = listening()[2].workerPid as number;
    expect(replacement).not.toBe(victim);
    await waitUntil(
      async () => {
        await getOnNewConnection(`${service.url}/events`);
        return answeringPids('/events').includes(replacement);
      },
      STUCK_AFTER_MS,
      () => 'the replacement worker answered nothing',
    );
  });

  it('stops, not restarts forever, when no worker can start (an unreachable database)', async () => {
    const { code, output } = await runUntilExit({
      NODE_ENV: 'production',
      ADMIN_AUTH: 'disabled',
      WORKERS: '2',
      PORT: '0',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere',
    });
    expect(code).toBe(1);
    expect(output).toContain('cannot reach PostgreSQL');
    expect(output).toContain('no worker could start');
  });

  it('drains both workers on SIGTERM: readiness 503 first, then the primary exits 0', async () => {
    service.child.kill('SIGTERM');
    await waitUntil(
      async () => (await getOnNewConnection(`${service.url}/health/ready`)) === 503,
      5_000,
      () => 'readiness did not turn 503',
    );
    expect(await service.exited).toBe(0);
    const draining = service
      .logs()
      .filter((e) => e.msg === 'shutting down: draining in-flight requests');
    expect(new Set(draining.map((e) => e.pid)).size).toBe(2);
    expect(service.logs().filter((e) => Number(e.level) >= 50)).toHaveLength(1); // the killed worker
  });
});
