import request from 'supertest';
import { startTestApp, TestApp } from './support/test-app';
import { createEvent, eventBody, issue } from './support/fixtures';
import { OpenApiContract } from './support/openapi-contract';

/** The OpenAPI document lists every route of the spec, and real answers match what it documents. */
describe('OpenAPI document', () => {
  let t: TestApp;
  let contract: OpenApiContract;

  beforeAll(async () => {
    t = await startTestApp({ now: '2026-03-10T03:00:00Z' });
    contract = await OpenApiContract.load(t.url);
  });
  afterAll(() => t.close());

  it('lists every route of the spec', () => {
    const routes = Object.entries(contract.document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(routes.sort()).toEqual(
      [
        'POST /events',
        'GET /events',
        'GET /events/{eventKey}',
        'PATCH /events/{eventKey}',
        'POST /events/{eventKey}/tickets',
        'GET /users/{userId}/tickets',
        'GET /health/live',
        'GET /health/ready',
        'GET /metrics',
      ].sort(),
    );
  });

  it('names every operation with an operationId of its own (generated clients name their methods so)', () => {
    const ids = Object.values(contract.document.paths).flatMap((operations) =>
      Object.values(operations as Record<string, { operationId?: string }>).map(
        (operation) => operation.operationId,
      ),
    );
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('gives every operation exactly one tag (Swagger UI lists it once)', () => {
    for (const [path, operations] of Object.entries(contract.document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        expect([`${method} ${path}`, (operation as { tags?: string[] }).tags?.length]).toEqual([
          `${method} ${path}`,
          1,
        ]);
      }
    }
  });

  it('names the security of each operation: adminBearer on administration, userJwt on tickets', () => {
    const document = contract.document as unknown as {
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
      paths: Record<string, Record<string, { security?: Array<Record<string, string[]>> }>>;
    };
    expect(document.components.securitySchemes).toMatchObject({
      adminBearer: { type: 'http', scheme: 'bearer' },
      userJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      metricsBearer: { type: 'http', scheme: 'bearer' },
    });
    const securityOf = (method: string, path: string) =>
      (document.paths[path][method].security ?? []).flatMap((entry) => Object.keys(entry));
    expect(securityOf('post', '/events')).toEqual(['adminBearer']);
    expect(securityOf('patch', '/events/{eventKey}')).toEqual(['adminBearer']);
    expect(securityOf('post', '/events/{eventKey}/tickets')).toEqual(['userJwt']);
    expect(securityOf('get', '/users/{userId}/tickets')).toEqual(['userJwt']);
    expect(securityOf('get', '/events')).toEqual([]);
    expect(securityOf('get', '/metrics')).toEqual(['metricsBearer']);
  });

  it('documents the corrections: the body, the rules, the 409s naming the field', () => {
    const operation = contract.document.paths['/events/{eventKey}'].patch as unknown as {
      description: string;
      parameters: Array<{ name: string; in: string; schema: { maxLength?: number } }>;
      requestBody: { content: { 'application/json': { schema: { properties: object } } } };
      responses: Record<string, { content: { 'application/json': { examples: object } } }>;
    };
    expect(
      Object.keys(operation.requestBody.content['application/json'].schema.properties),
    ).toEqual(['name', 'totalQuantity', 'dailyLimit', 'startAt', 'endAt', 'isActive']);
    expect(operation.description).toContain('sold out is final');
    expect(JSON.stringify(operation.responses['409'])).toContain('매진된 뒤에는 늘릴 수 없습니다');
    expect(operation.parameters.find((p) => p.name === 'eventKey')).toMatchObject({
      in: 'path',
      schema: { maxLength: 100 },
    });
  });

  it('documents what the Idempotency-Key and a body add: 409 in flight, 422 reused, 413, 415', () => {
    const statusesOf = (method: string, path: string) =>
      Object.keys(contract.document.paths[path][method].responses);
    for (const [method, path] of [
      ['post', '/events'],
      ['patch', '/events/{eventKey}'],
      ['post', '/events/{eventKey}/tickets'],
    ]) {
      expect([path, statusesOf(method, path)]).toEqual([
        path,
        expect.arrayContaining(['400', '409', '413', '415', '422', '429', '503']),
      ]);
    }
    expect(statusesOf('get', '/metrics').sort()).toEqual(['200', '401']);
  });

  it('names every example after what it shows', () => {
    const names: string[] = [];
    for (const operations of Object.values(contract.document.paths)) {
      for (const operation of Object.values(operations)) {
        for (const response of Object.values(operation.responses)) {
          const examples = (
            response.content?.['application/json'] as
              { examples?: Record<string, { value: { message: string } }> } | undefined
          )?.examples;
          names.push(...Object.keys(examples ?? {}));
        }
      }
    }
    expect(names).toEqual(
      expect.arrayContaining([
        'soldOut',
        'idempotencyKeyReused',
        'idempotencyKeyInFlight',
        'twoIdempotencyKeys',
      ]),
    );
    expect(names.filter((name) => !/^[a-z][A-Za-z]+$/.test(name) || /^example/.test(name))).toEqual(
      [],
    );
  });

  it('documents the spec’s exact messages, the headers, 429 and 503', () => {
    const text = JSON.stringify(contract.document);
    for (const message of [
      '존재하지 않는 이벤트입니다.',
      '이미 존재하는 이벤트입니다.',
      '이벤트 기간이 아닙니다.',
      '티켓이 모두 소진되었습니다.',
      '오늘의 발급 한도에 도달했습니다. 내일 다시 시도해주세요.',
    ]) {
      expect(text).toContain(message);
    }
    const issueOperation = contract.document.paths['/events/{eventKey}/tickets']
      .post as unknown as {
      parameters: Array<{ name: string }>;
      responses: Record<string, unknown>;
    };
    expect(issueOperation.parameters.map((p) => p.name)).toEqual(
      expect.arrayContaining(['Idempotency-Key', 'X-Request-Id', 'eventKey']),
    );
    expect(Object.keys(issueOperation.responses)).toEqual(
      expect.arrayContaining(['200', '201', '400', '404', '409', '422', '429', '503']),
    );
  });

  it('matches every answer the API gives', async () => {
    const check = (method: string, route: string) => (response: request.Response) => {
      contract.check(method, route, response);
      return response;
    };
    const created = await request(t.url)
      .post('/events')
      .send(eventBody({ totalQuantity: 1 }));
    check('POST', '/events')(created);
    const key = created.body.eventKey as string;
    check(
      'POST',
      '/events',
    )(
      await request(t.url)
        .post('/events')
        .send(eventBody({ eventKey: key })),
    );
    check('POST', '/events')(await request(t.url).post('/events').send({ name: 1 }));
    check('GET', '/events')(await request(t.url).get('/events'));
    check('GET', '/events/{eventKey}')(await request(t.url).get(`/events/${key}`));
    check('GET', '/events/{eventKey}')(await request(t.url).get('/events/none'));
    check('GET', '/events/{eventKey}')(await request(t.url).get('/events/bad.key'));

    const tickets = '/events/{eventKey}/tickets';
    const first = await issue(t.url, key, 1, 'contract-key');
    expect(first.status).toBe(201);
    check('POST', tickets)(first);
    check('POST', tickets)(await issue(t.url, key, 1));
    check('POST', tickets)(await issue(t.url, key, 2));
    check('POST', tickets)(await issue(t.url, key, 2, 'contract-key'));
    check('POST', tickets)(await issue(t.url, 'none', 1));
    check('POST', tickets)(await issue(t.url, key, 'x'));
    const capped = await createEvent(t.url, { dailyLimit: 1 });
    await issue(t.url, capped.eventKey, 1).expect(201);
    check('POST', tickets)(await issue(t.url, capped.eventKey, 2).expect(409));

    check('GET', '/users/{userId}/tickets')(await request(t.url).get('/users/1/tickets'));
    check('GET', '/users/{userId}/tickets')(await request(t.url).get('/users/abc/tickets'));

    const patch = (body: object) => request(t.url).patch(`/events/${key}`).send(body);
    check('PATCH', '/events/{eventKey}')(await patch({ isActive: false }));
    check('PATCH', '/events/{eventKey}')(await patch({}));
    check(
      'PATCH',
      '/events/{eventKey}',
    )(await request(t.url).patch('/events/none').send({ isActive: true }));
    check('POST', tickets)(await issue(t.url, key, 3));
    check('PATCH', '/events/{eventKey}')(await patch({ name: '고친 이름', isActive: true }));
    // Sold out (1 of 1): raising the total is refused, naming the rule.
    check('PATCH', '/events/{eventKey}')(await patch({ totalQuantity: 2 }).expect(409));
    for (const [method, path, route] of [
      ['post', '/events', '/events'],
      ['patch', `/events/${key}`, '/events/{eventKey}'],
      ['post', `/events/${key}/tickets`, tickets],
    ] as const) {
      const notJson = await request(t.url)
        [method](path)
        .set('content-type', 'text/plain')
        .send('{"userId":1}')
        .expect(415);
      check(method.toUpperCase(), route)(notJson);
    }
    check(
      'GET',
      '/events/{eventKey}',
    )(
      await request(t.url)
        .get(`/events/${'k'.repeat(101)}`)
        .expect(400),
    );

    check('GET', '/health/live')(await request(t.url).get('/health/live'));
    check('GET', '/health/ready')(await request(t.url).get('/health/ready'));
  });
});

/** Swagger UI's "Try it out" sends the documented request examples: they work today and any day after. */
describe('OpenAPI request examples', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ now: new Date().toISOString() });
  });
  afterAll(() => t.close());

  it('create an event that issues tickets today and a year from now', async () => {
    const { document } = await OpenApiContract.load(t.url);
    const exampleBody = (method: string, path: string) => {
      const { requestBody } = document.paths[path][method] as unknown as {
        requestBody: {
          content: { 'application/json': { schema: { properties: Record<string, object> } } };
        };
      };
      const { properties } = requestBody.content['application/json'].schema;
      return Object.fromEntries(
        Object.entries(properties).map(([name, schema]) => [
          name,
          (schema as { example: unknown }).example,
        ]),
      );
    };
    const event = exampleBody('post', '/events');
    await request(t.url).post('/events').send(event).expect(201);
    const ticket = exampleBody('post', '/events/{eventKey}/tickets');
    const tickets = `/events/${String(event.eventKey)}/tickets`;
    await request(t.url).post(tickets).send(ticket).expect(201);
    t.clock.advance(366 * 24 * 3600 * 1000);
    await request(t.url)
      .post(tickets)
      .send({ ...ticket, userId: Number(ticket.userId) + 1 })
      .expect(201);
  });
});
