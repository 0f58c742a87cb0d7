import request from 'supertest';
import { eventBody } from './support/fixtures';
import { servicesOnFreshDatabase } from './support/service-fixture';
import { ServiceProcess, runUntilExit, startService } from './support/service-process';
import { connect } from './support/test-database';

/**
 * The production build (dist/src/main.js) in its own process: JSON logs with request ids, and SIGTERM in
 * the middle of a burst that must leave every answered request matching the database.
 */
describe('the service process', () => {
  const services = servicesOnFreshDatabase();
  let service: ServiceProcess;
  let url: string;

  beforeAll(async () => {
    service = await services.start({
      SHUTDOWN_READINESS_DELAY_MS: '1500',
      SHUTDOWN_GRACE_MS: '10000',
    });
    url = service.url;
  });

  it('keeps instants exact whatever the process time zone (Seoul had an offset in seconds before 1908)', async () => {
    const seoul = await startService({ DATABASE_URL: services.databaseUrl, TZ: 'Asia/Seoul' });
    try {
      const body = eventBody({ startAt: '1900-01-01T00:00:00Z', endAt: '2099-01-01T00:00:00Z' });
      const created = await request(seoul.url).post('/events').send(body).expect(201);
      expect(created.body.startAt).toBe('1900-01-01T00:00:00Z');
      const read = await request(seoul.url).get(`/events/${body.eventKey}`).expect(200);
      expect(read.body.startAt).toBe('1900-01-01T00:00:00Z');
    } finally {
      await seoul.stop();
    }
  });

  it('refuses to start in production with event administration open, naming ADMIN_TOKEN', async () => {
    const { code, output } = await runUntilExit({
      NODE_ENV: 'production',
      DATABASE_URL: services.databaseUrl,
      ADMIN_TOKEN: '',
    });
    expect(code).toBe(1);
    const [line] = output.trim().split('\n');
    expect(JSON.parse(line)).toMatchObject({ level: 60 });
    expect(line).toContain('ADMIN_TOKEN is required in production');
    expect(line).toContain('ADMIN_AUTH=disabled');
  });

  it('says loudly at start that ADMIN_AUTH=disabled leaves administration to a gateway', () => {
    expect(service.logs()).toContainEqual(
      expect.objectContaining({ level: 40, msg: expect.stringContaining('ADMIN_AUTH=disabled') }),
    );
  });

  it("says its start in one line at info, with ISO-8601 times; Nest's details are at debug", async () => {
    const entries = service.logs();
    const started = entries.findIndex((entry) => entry.msg === 'Golden Ticket listening');
    expect(started).toBeGreaterThanOrEqual(0);
    const infoUntilThen = entries.slice(0, started + 1).filter((entry) => entry.level === 30);
    expect(infoUntilThen).toHaveLength(1);
    expect(infoUntilThen[0]).toMatchObject({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      node: process.version,
      nodeEnv: 'production',
      listen: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      workers: 1,
      database: 'external',
      admin: 'ADMIN_AUTH=disabled: a gateway guards it',
      userTokens: 'off: userId trusted as sent',
      redis: 'off: budgets per instance',
      logLevel: 'info',
      logRequests: 'all',
    });
    for (const entry of entries) {
      expect(entry.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }

    const verbose = await startService({ DATABASE_URL: services.databaseUrl, LOG_LEVEL: 'debug' });
    await verbose.stop();
    const debug = verbose.logs().filter((entry) => entry.level === 20);
    expect(debug).toContainEqual(
      expect.objectContaining({ context: 'RouterExplorer', msg: 'Mapped {/events, POST} route' }),
    );
    expect(debug).toContainEqual(
      expect.objectContaining({
        context: 'InstanceLoader',
        msg: 'AppModule dependencies initialized',
      }),
    );
  });

  it('echoes X-Request-Id, or makes one', async () => {
    const sent = await request(url).get('/events').set('X-Request-Id', 'trace-abc-123').expect(200);
    expect(sent.headers['x-request-id']).toBe('trace-abc-123');
    const made = await request(url).get('/events').expect(200);
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("serves Swagger UI at /docs, with helmet's page headers (its CSP allowing its inline script)", async () => {
    const docs = await request(url).get('/docs').redirects(1).expect(200);
    expect(docs.headers['content-type']).toContain('text/html');
    expect(docs.text).toContain('swagger-ui');
    expect(docs.headers['content-security-policy']).toContain("script-src 'self' 'unsafe-inline'");
    expect(docs.headers).toMatchObject({
      'x-frame-options': 'SAMEORIGIN',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    });
  });

  it('drains a burst on SIGTERM: every answer matches the database, no ticket lacks one', async () => {
    const body = eventBody({
      totalQuantity: 100_000,
      startAt: '2020-01-01T00:00:00Z',
      endAt: '2099-01-01T00:00:00Z',
    });
    await request(url).post('/events').send(body).expect(201);

    type Answered = { userId: number; status: number; ticketId?: string };
    type Outcome = Answered | { userId: number; error: string };
    const burst: Array<Promise<Outcome>> = [];
    for (let wave = 0; wave < 30; wave++) {
      for (let i = 0; i < 20; i++) {
        const userId = wave * 20 + i + 1;
        burst.push(
          request(url)
            .post(`/events/${body.eventKey}/tickets`)
            .set('Idempotency-Key', `secret-key-${userId}`)
            .send({ userId })
            .then(
              (r): Outcome => ({ userId, status: r.status, ticketId: r.body.ticketId }),
              (error: Error): Outcome => ({ userId, error: error.message }),
            ),
        );
      }
      if (wave === 10) {
        service.child.kill('SIGTERM');
        // Shutting down: readiness refuses at once, while requests are still being served.
        const readiness = await request(url).get('/health/ready');
        expect(readiness.status).toBe(503);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const outcomes = await Promise.all(burst);
    expect(await service.exited).toBe(0);

    const answered = outcomes.filter((o): o is Answered => 'status' in o);
    expect(answered.length).toBeGreaterThan(100);
    expect(answered.every((o) => o.status === 201)).toBe(true);

    const db = connect(services.databaseUrl);
    try {
      const tickets = await db('tickets').select('userId', 'id');
      const byUser = new Map(
        tickets.map((row: { userId: number; id: string }) => [row.userId, row.id]),
      );
      for (const o of answered) expect(byUser.get(o.userId)).toBe(o.ticketId);
      expect(tickets).toHaveLength(answered.length);
      const keys = await db('idempotencyKeys').whereNull('responseStatus');
      expect(keys).toHaveLength(0);
    } finally {
      await db.destroy();
    }
  });

  it.each([
    ['errors', 0],
    ['sampled', 3],
  ])(
    'LOG_REQUESTS=%s writes every warn and error line and %i in 250 of the info lines',
    async (mode, infoLines) => {
      const service = await startService({
        DATABASE_URL: services.databaseUrl,
        LOG_REQUESTS: mode,
        ADMIN_AUTH: 'token',
        ADMIN_TOKEN: 'admin-secret-0123456789',
      });
      try {
        for (let i = 0; i < 250; i++) await request(service.url).get('/events').expect(200);
        for (let i = 0; i < 2; i++) await request(service.url).post('/events').send({}).expect(401);
        await request(service.url).get('/events').expect(200);
      } finally {
        await service.stop();
      }
      const lines = service.lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((entry) => entry.msg === 'request completed');
      expect(lines.filter((entry) => entry.statusCode === 401)).toHaveLength(2);
      const info = lines.filter((entry) => entry.statusCode === 200);
      expect(info).toHaveLength(infoLines);
      for (const entry of info) expect(entry).toMatchObject({ level: 30, sampledOneIn: 100 });
    },
  );

  it('wrote only JSON lines, each request with its id, without bodies or keys', () => {
    const logLines = service.lines;
    expect(logLines.length).toBeGreaterThan(0);
    const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = entries.filter((entry) => entry.msg === 'request completed');
    expect(requests.length).toBeGreaterThan(100);
    // ISO-8601 UTC with milliseconds, in the order the lines were written (each millisecond's text made once).
    const times = entries.map((entry) => entry.time as string);
    for (const time of times) expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect([...times].sort()).toEqual(times);
    for (const entry of requests) {
      expect(typeof entry.requestId).toBe('string');
      expect(entry).toHaveProperty('latencyMs');
      expect(entry).toHaveProperty('statusCode');
      expect(entry).toHaveProperty('method');
    }
    expect(requests).toContainEqual(
      expect.objectContaining({ requestId: 'trace-abc-123', route: '/events', statusCode: 200 }),
    );
    const issuance = requests.filter((entry) => entry.issuance !== undefined);
    expect(issuance.length).toBeGreaterThan(0);
    expect(issuance[0].issuance).toMatchObject({ outcome: 'issued', retries: 0 });
    const everything = logLines.join('\n');
    expect(everything).not.toContain('secret-key-');
    expect(everything).not.toContain('"userId"');
  });
});
