import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { OPEN_NOW, createEvent, eventBody, issue } from './support/fixtures';
import { servicesOnFreshDatabase } from './support/service-fixture';
import {
  STUCK_AFTER_MS,
  ServiceProcess,
  waitUntil,
  waitUntilReady,
} from './support/service-process';
import { TcpProxy } from './support/tcp-proxy';
import { connect } from './support/test-database';

const STATEMENT_TIMEOUT_MS = 1_000;
/** DB_QUERY_TIMEOUT_MS's default: the statement timeout plus a second. */
const QUERY_TIMEOUT_MS = STATEMENT_TIMEOUT_MS + 1_000;
/**
 * What a request may take beyond the query deadline, at least: scheduling on a loaded 2-core machine. More
 * when the healthy answers measured so far say the machine is slower than that now (deadline()).
 */
const MARGIN_MS = 2_000;

/**
 * PostgreSQL stops answering without closing connections (a partition, a hung primary): a TCP proxy the
 * test owns sits between the production build and PostgreSQL and stops moving bytes, or throws away
 * the server's replies. Every request gets a 503 + Retry-After within the query deadline, nothing is
 * half-written, and issuance works again as soon as the database answers.
 */
describe('a silent database', () => {
  const services = servicesOnFreshDatabase();
  let proxy: TcpProxy;
  let service: ServiceProcess;
  const db = () => connect(services.databaseUrl);

  beforeAll(async () => {
    const { hostname, port } = new URL(services.databaseUrl);
    proxy = await TcpProxy.start({ host: hostname, port: Number(port) });
    service = await services.start({
      DATABASE_URL: proxy.rewrite(services.databaseUrl),
      DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      DB_ACQUIRE_TIMEOUT_MS: '1000',
    });
  });
  afterAll(() => proxy.stop());

  /** The slowest answer of a healthy database so far: how slow this machine is now. */
  let slowestHealthyMs = 0;
  /** The query deadline and what this machine adds to it: four healthy answers' worth, or MARGIN_MS. */
  const deadline = () => QUERY_TIMEOUT_MS + Math.max(MARGIN_MS, 4 * slowestHealthyMs);

  /** Sends a keyed ticket request and measures how long its answer took. */
  async function timedIssue(eventKey: string, userId: number, key = randomUUID()) {
    const startedAt = Date.now();
    const response = await issue(service.url, eventKey, userId, key);
    const tookMs = Date.now() - startedAt;
    if (response.status < 300) slowestHealthyMs = Math.max(slowestHealthyMs, tookMs);
    return { response, tookMs, key };
  }

  function expectFastUnavailable(answer: Awaited<ReturnType<typeof timedIssue>>): void {
    expect(answer.response.status).toBe(503);
    expect(answer.response.body).toEqual({
      statusCode: 503,
      message: '일시적으로 요청을 처리할 수 없습니다. 잠시 후 다시 시도해주세요.',
    });
    expect(Number(answer.response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(answer.tookMs).toBeLessThan(deadline());
  }

  async function expectInvariants(eventKey: string, acknowledged: Map<number, string>) {
    const check = db();
    try {
      const tickets: Array<{ userId: number; id: string }> = await check('tickets')
        .join('events', 'events.id', 'tickets.eventId')
        .where('events.eventKey', eventKey)
        .select('tickets.userId', 'tickets.id');
      expect(new Map(tickets.map((t) => [t.userId, t.id]))).toEqual(acknowledged);
      const event = await check('events').where({ eventKey }).first();
      expect(event.issuedCount).toBe(tickets.length);
      expect(await check('idempotencyKeys').whereNull('responseStatus')).toEqual([]);
    } finally {
      await check.destroy();
    }
  }

  it('pauses: every request is answered 503 within the deadline, the queue moves on, then issuance resumes', async () => {
    const event = await createEvent(service.url, { totalQuantity: 100, ...OPEN_NOW });
    const acknowledged = new Map<number, string>();
    for (const userId of [1, 2, 3]) {
      const { response } = await timedIssue(event.eventKey, userId);
      expect(response.status).toBe(201);
      acknowledged.set(userId, response.body.ticketId);
    }

    proxy.pause();
    // One request opens a batch that hangs; the others queue behind it or arrive after it failed.
    const first = timedIssue(event.eventKey, 4);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const queued = [5, 6, 7].map((userId) => timedIssue(event.eventKey, userId));
    const during = await Promise.all([first, ...queued]);
    during.forEach(expectFastUnavailable);
    const later = await timedIssue(event.eventKey, 8);
    expectFastUnavailable(later);
    const ready = await request(service.url).get('/health/ready');
    expect(ready.status).toBe(503);

    proxy.resume();
    await waitUntilReady(service);
    // The same event issues again at once, including to the users refused during the silence, with
    // the same keys (a 503 is not kept).
    for (const answer of [...during, later]) {
      const userId = (answer.response.request as unknown as { _data: { userId: number } })._data
        .userId;
      const retried = await issue(service.url, event.eventKey, userId, answer.key);
      expect(retried.status).toBe(201);
      acknowledged.set(userId, retried.body.ticketId);
    }
    await expectInvariants(event.eventKey, acknowledged);
  });

  it('drops replies (a broken stream): 503 within the deadline, then the stuck connections are gone', async () => {
    const event = await createEvent(service.url, { totalQuantity: 100, ...OPEN_NOW });
    const acknowledged = new Map<number, string>();
    const before = await timedIssue(event.eventKey, 1);
    expect(before.response.status).toBe(201);
    acknowledged.set(1, before.response.body.ticketId);

    proxy.dropReplies();
    const during = await Promise.all([2, 3].map((userId) => timedIssue(event.eventKey, userId)));
    during.forEach(expectFastUnavailable);

    proxy.resume();
    const after = await Promise.all(
      [2, 3, 4].map((userId) => issue(service.url, event.eventKey, userId)),
    );
    expect(after.map((r) => r.status)).toEqual([201, 201, 201]);
    after.forEach((r) => acknowledged.set(r.body.userId, r.body.ticketId));
    await expectInvariants(event.eventKey, acknowledged);
  });

  it.each([
    ['the read', 'WITH e AS'],
    ['the write', 'WITH new_tickets'],
    ['COMMIT', 'COMMIT'],
  ])(
    'goes silent in the middle of a batch (%s): 503, the queue with it, nothing half-written',
    async (_, statement) => {
      const event = await createEvent(service.url, { totalQuantity: 100, ...OPEN_NOW });
      proxy.pauseOn(statement);
      const first = timedIssue(event.eventKey, 1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const queued = timedIssue(event.eventKey, 2);
      const answers = await Promise.all([first, queued]);
      answers.forEach(expectFastUnavailable);
      proxy.resume();
      // The retries with the same keys get the truth: a COMMIT the server received before going silent
      // did commit (the first is then replayed); anything earlier left nothing behind.
      const after = await Promise.all(
        answers.map((a, i) => issue(service.url, event.eventKey, i + 1, a.key)),
      );
      expect(after.map((r) => r.status)).toEqual([201, 201]);
      expect(after[0].headers['idempotent-replayed']).toBe(
        statement === 'COMMIT' ? 'true' : undefined,
      );
      await expectInvariants(
        event.eventKey,
        new Map(after.map((r) => [r.body.userId as number, r.body.ticketId as string])),
      );
    },
  );

  it('answers a keyed POST /events 503 within the deadline when the database goes silent', async () => {
    proxy.pauseOn('insert into "events"');
    const startedAt = Date.now();
    const response = await request(service.url)
      .post('/events')
      .set('Idempotency-Key', randomUUID())
      .send(eventBody(OPEN_NOW));
    expect(response.status).toBe(503);
    expect(Date.now() - startedAt).toBeLessThan(deadline());
    proxy.resume();
  });

  it('a keyed PATCH whose answer cannot be stored is not sent: 503 within the deadline', async () => {
    const event = await createEvent(service.url, { totalQuantity: 100, ...OPEN_NOW });
    proxy.pauseOn('update "idempotency_keys"');
    const startedAt = Date.now();
    const response = await request(service.url)
      .patch(`/events/${event.eventKey}`)
      .set('Idempotency-Key', randomUUID())
      .send({ isActive: false });
    expect(response.status).toBe(503);
    expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Date.now() - startedAt).toBeLessThan(deadline());
    proxy.resume();
  });

  it('after a failover, one request pays for the old connections, not one per pooled connection', async () => {
    const event = await createEvent(service.url, { totalQuantity: 100, ...OPEN_NOW });
    // Fill the pool with idle connections, then leave them all behind with the old server.
    await Promise.all(
      Array.from({ length: 8 }, () => request(service.url).get(`/events/${event.eventKey}`)),
    );
    proxy.freezeExisting();
    const answers = [];
    for (let userId = 1; userId <= 4; userId++)
      answers.push(await timedIssue(event.eventKey, userId));
    expectFastUnavailable(answers[0]);
    expect(answers.slice(1).map((a) => a.response.status)).toEqual([201, 201, 201]);
    proxy.resume();
  });

  it('a sold-out event answered from memory: holders keep their ticket, a keyed refusal waits for its record (503)', async () => {
    const event = await createEvent(service.url, { totalQuantity: 1, ...OPEN_NOW });
    const holder = await issue(service.url, event.eventKey, 1).expect(201);
    await issue(service.url, event.eventKey, 2).expect(409);
    await waitUntil(
      () =>
        Promise.resolve(
          service.logs().some((e) => e.eventKey === event.eventKey && e.holders === 1),
        ),
      STUCK_AFTER_MS,
      () => 'not answered from memory',
    );

    proxy.pause();
    expect((await issue(service.url, event.eventKey, 1).expect(200)).body).toEqual(holder.body);
    // Its answer is known, but it is not sent before its record is committed.
    const keyed = await timedIssue(event.eventKey, 3);
    expectFastUnavailable(keyed);

    proxy.resume();
    await waitUntilReady(service);
    // (Replayed or not: the INSERT the proxy held may reach the server once it moves bytes again.)
    const retried = await issue(service.url, event.eventKey, 3, keyed.key).expect(409);
    const check = db();
    try {
      const record = await check('idempotencyKeys').where({ idempotencyKey: keyed.key }).first();
      expect(record).toMatchObject({ responseStatus: 409, responseBody: retried.text });
    } finally {
      await check.destroy();
    }
  });

  it('logged each failure once, as JSON, and never a stack trace in an answer', () => {
    const entries = service.logs();
    expect(entries.length).toBe(service.lines.length);
    const failures = entries.filter(
      (e) => e.msg === 'request completed' && e.statusCode === 503 && e.route !== '/health/ready',
    );
    expect(failures.length).toBeGreaterThanOrEqual(7);
    for (const failure of failures) {
      expect(failure).toMatchObject({
        level: 50,
        err: expect.anything(),
        requestId: expect.any(String),
      });
    }
    // Exactly one error line per failed request: the request's own, with its id and cause.
    expect(entries.filter((e) => Number(e.level) >= 50)).toHaveLength(failures.length);
    // Readiness saying 503 is a state, not a fault: a warning.
    const unready = entries.filter((e) => e.route === '/health/ready' && e.statusCode === 503);
    expect(unready.length).toBeGreaterThanOrEqual(1);
    for (const probe of unready) expect(probe.level).toBe(40);
  });
});
