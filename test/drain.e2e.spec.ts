import { Agent } from 'node:http';
import request from 'supertest';
import { OPEN_NOW, eventBody } from './support/fixtures';
import { JsonAnswer, postJson } from './support/http-client';
import { servicesOnFreshDatabase } from './support/service-fixture';
import { ServiceProcess, STUCK_AFTER_MS, waitUntil } from './support/service-process';
import { connect } from './support/test-database';

/**
 * One keep-alive client, as a balancer or a mobile app holds one: ticket requests one after another on one
 * connection, until an answer says `Connection: close` (the server is going away) or the request fails.
 */
async function keepAliveClient(
  url: string,
  firstUserId: number,
  answers: JsonAnswer[],
  failures: string[],
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let userId = firstUserId; ; userId++) {
      const answer = await postJson(url, { userId }, agent);
      answers.push(answer);
      if (answer.connection === 'close') return;
    }
  } catch (error) {
    failures.push((error as NodeJS.ErrnoException).code ?? String(error));
  } finally {
    agent.destroy();
  }
}

/**
 * A graceful stop under load: WORKERS=2 get SIGTERM in the middle of a storm of keep-alive clients. Every
 * request sent gets an HTTP answer (no reset socket), and every client is told `Connection: close` while the
 * service is still draining, so none of them is left holding a connection the server will close.
 */
describe('SIGTERM mid-storm (WORKERS=2)', () => {
  const services = servicesOnFreshDatabase();
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await services.start({
      WORKERS: '2',
      // Long enough for every client to be told to go on a busy machine; the test waits for them, not it.
      SHUTDOWN_READINESS_DELAY_MS: '6000',
      SHUTDOWN_GRACE_MS: '20000',
    });
  });

  it('answers every request and tells every keep-alive client Connection: close while draining', async () => {
    const event = eventBody({ ...OPEN_NOW, totalQuantity: 1_000_000 });
    await request(service.url).post('/events').send(event).expect(201);
    const tickets = `${service.url}/events/${event.eventKey}/tickets`;

    const answers: JsonAnswer[] = [];
    const failures: string[] = [];
    const storm = Array.from({ length: 48 }, (_, client) =>
      keepAliveClient(tickets, client * 1_000_000 + 1, answers, failures),
    );
    await waitUntil(
      () => Promise.resolve(answers.length >= 300 || failures.length > 0),
      STUCK_AFTER_MS,
      () => `the storm did not get going: ${answers.length} answers`,
    );
    service.child.kill('SIGTERM');
    await Promise.all(storm);

    expect(failures).toEqual([]);
    // Every client has been told to go while readiness still says 503 and the server still accepts:
    // the close came with the answers during the drain, not from the server closing their connections.
    expect((await fetch(`${service.url}/health/ready`)).status).toBe(503);
    expect(await service.exited).toBe(0);

    expect(answers.every((answer) => answer.status === 201)).toBe(true);
    const db = connect(services.databaseUrl);
    try {
      const [{ count }] = await db('tickets').count({ count: '*' });
      expect(Number(count)).toBe(answers.length);
    } finally {
      await db.destroy();
    }
  });
});
