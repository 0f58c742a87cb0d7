import { randomUUID } from 'node:crypto';
import { connect as connectTcp } from 'node:net';
import { OPEN_NOW, eventBody } from './support/fixtures';
import { servicesOnFreshDatabase } from './support/service-fixture';
import { STUCK_AFTER_MS, ServiceProcess, waitUntil } from './support/service-process';
import { TcpProxy } from './support/tcp-proxy';
import { connect } from './support/test-database';
import type { Knex } from 'knex';

const REQUEST_TIMEOUT_MS = 1_500;
const ORIGIN = 'https://app.example';
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};
const NOT_JSON = '지원하지 않는 Content-Type입니다. application/json으로 보내주세요.';
const UNAVAILABLE = '일시적으로 요청을 처리할 수 없습니다. 잠시 후 다시 시도해주세요.';

interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/**
 * One request as raw bytes on a connection of its own (so nothing rewrites a content type, a path or the
 * framing), `Connection: close`; resolves with what came back when the server closed it. `bodyBytes` says
 * how much of the body to send (less than its Content-Length: a client that stalls).
 */
function rawRequest(
  port: number,
  lines: string[],
  body = '',
  bodyBytes = Buffer.byteLength(body),
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ port, host: '127.0.0.1' });
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => resolve(parseAnswer(received)));
    socket.on('connect', () => {
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      socket.write(Buffer.from(body).subarray(0, bodyBytes));
    });
  });
}

function parseAnswer(raw: string): Answer {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const [statusLine, ...headerLines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, text: rest.join('\r\n\r\n') };
}

/** A route of the API, and what a valid and an invalid request to it are. */
interface Route {
  name: string;
  pipeline: 'Nest' | 'Fastify';
  method: 'GET' | 'POST' | 'PATCH';
  path(eventKey: string): string;
  /** Whether the path names an event (`:eventKey`). */
  keyed: boolean;
  valid?: () => object;
  /** An invalid body, and the field its 400 names. */
  invalid?: { body: object; field: string };
}

const ROUTES: Route[] = [
  {
    name: 'POST /events',
    pipeline: 'Nest',
    method: 'POST',
    path: () => '/events',
    keyed: false,
    valid: () => eventBody(OPEN_NOW),
    invalid: { body: { ...eventBody(OPEN_NOW), totalQuantity: 0 }, field: 'totalQuantity' },
  },
  {
    name: 'PATCH /events/:eventKey',
    pipeline: 'Nest',
    method: 'PATCH',
    path: (eventKey) => `/events/${eventKey}`,
    keyed: true,
    valid: () => ({ name: `고친 이름 ${randomUUID()}` }),
    invalid: { body: { name: '' }, field: 'name' },
  },
  {
    name: 'POST /events/:eventKey/tickets',
    pipeline: 'Fastify',
    method: 'POST',
    path: (eventKey) => `/events/${eventKey}/tickets`,
    keyed: true,
    valid: () => ({ userId: Math.floor(Math.random() * 1e9) + 1 }),
    invalid: { body: { userId: 0 }, field: 'userId' },
  },
  {
    name: 'GET /events/:eventKey',
    pipeline: 'Nest',
    method: 'GET',
    path: (eventKey) => `/events/${eventKey}`,
    keyed: true,
  },
];
const WITH_BODY = ROUTES.filter((route) => route.valid);

/** What each case sends to a route, and what the answer must be (its status, its message, its reason code). */
interface Case {
  name: string;
  routes: Route[];
  send(route: Route, context: Context): Promise<Answer>;
  status: number;
  message?: (route: Route) => string | RegExp;
  reason?: (route: Route) => string;
  /** Node answers these itself: the request id is made there. */
  generatedId?: boolean;
}

interface Context {
  port: number;
  eventKey: string;
  /** A key each route has stored an answer for, with a valid request. */
  storedKeys: Map<string, string>;
}

const requestLines = (route: Route, path: string, requestId: string, extra: string[] = []) => [
  `${route.method} ${path} HTTP/1.1`,
  'Host: 127.0.0.1',
  `X-Request-Id: ${requestId}`,
  'Connection: close',
  ...extra,
];

/** A request to the route with `body` sent as `contentType` (none: no Content-Type header at all). */
function sendBody(
  { port, eventKey }: Context,
  route: Route,
  body: string,
  contentType: string | undefined,
  extra: string[] = [],
): Promise<Answer> {
  const headers = [
    ...(contentType === undefined ? [] : [`Content-Type: ${contentType}`]),
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...extra,
  ];
  return rawRequest(port, requestLines(route, route.path(eventKey), randomUUID(), headers), body);
}

const notJson = (name: string, contentType: string | undefined, body: string): Case => ({
  name,
  routes: WITH_BODY,
  send: (route, context) => sendBody(context, route, body, contentType),
  status: 415,
  message: () => NOT_JSON,
  reason: () => 'unsupported_media_type',
});

const DATABASE_UP: Case[] = [
  notJson('a form-encoded body', 'application/x-www-form-urlencoded', 'userId=42'),
  notJson('a text/plain body', 'text/plain', '{"userId":42}'),
  notJson('an XML body', 'application/xml', '<userId>42</userId>'),
  notJson(
    'a multipart body',
    'multipart/form-data; boundary=x',
    '--x\r\nContent-Disposition: form-data; name="userId"\r\n\r\n42\r\n--x--\r\n',
  ),
  notJson('a body without a Content-Type', undefined, '{"userId":42}'),
  {
    name: 'malformed JSON',
    routes: WITH_BODY,
    send: (route, context) => sendBody(context, route, '{"userId": 1', 'application/json'),
    status: 400,
    message: () => '요청 본문이 올바른 JSON이 아닙니다.',
    reason: () => 'validation:body',
  },
  {
    name: 'an eventKey over 100 characters',
    routes: ROUTES.filter((route) => route.keyed),
    send: (route, { port }) => {
      // One body, so Content-Length is its length (valid() differs each call: a random userId).
      const body = route.valid ? JSON.stringify(route.valid()) : '';
      return rawRequest(
        port,
        requestLines(route, route.path('k'.repeat(101)), randomUUID(), [
          'Content-Type: application/json',
          `Content-Length: ${Buffer.byteLength(body)}`,
        ]),
        body,
      );
    },
    status: 400,
    message: () => 'eventKey은(는) 100자 이하여야 합니다.',
    reason: () => 'validation:eventKey',
  },
  {
    name: 'a path that is not valid percent-encoding',
    routes: ROUTES.filter((route) => route.keyed),
    send: (route, { port }) =>
      rawRequest(port, requestLines(route, route.path('%E0%A4%A'), randomUUID())),
    status: 400,
    message: () => '요청 경로의 퍼센트 인코딩이 올바르지 않습니다.',
    reason: () => 'validation:path',
  },
  {
    name: 'a stored Idempotency-Key resent with an invalid body',
    routes: WITH_BODY,
    send: (route, context) =>
      sendBody(context, route, JSON.stringify(route.invalid!.body), 'application/json', [
        `Idempotency-Key: ${context.storedKeys.get(route.name)}`,
      ]),
    status: 400,
    message: (route) => new RegExp(`^${route.invalid!.field}`),
    reason: (route) => `validation:${route.invalid!.field}`,
  },
  {
    name: 'a CORS preflight',
    routes: ROUTES,
    send: (route, { port, eventKey }) =>
      rawRequest(port, [
        `OPTIONS ${route.path(eventKey)} HTTP/1.1`,
        'Host: 127.0.0.1',
        `X-Request-Id: ${randomUUID()}`,
        'Connection: close',
        `Origin: ${ORIGIN}`,
        `Access-Control-Request-Method: ${route.method}`,
        'Access-Control-Request-Headers: content-type, idempotency-key, authorization',
      ]),
    status: 204,
  },
  {
    name: 'a body that stalls (408)',
    routes: WITH_BODY,
    send: (route, { port, eventKey }) => {
      const body = JSON.stringify(route.valid!());
      const lines = requestLines(route, route.path(eventKey), randomUUID(), [
        'Content-Type: application/json',
        `Content-Length: ${Buffer.byteLength(body)}`,
      ]);
      return rawRequest(port, lines, body, 3);
    },
    status: 408,
    message: () => '요청을 제시간에 다 받지 못했습니다. 다시 시도해주세요.',
    reason: () => 'request_timeout',
    generatedId: true,
  },
];

/** While the database is away: the same rule for an invalid request, and a 503 through the same edge. */
const DATABASE_AWAY: Case[] = [
  DATABASE_UP.find((c) => c.name.startsWith('a stored Idempotency-Key'))!,
  {
    name: 'a valid request (503)',
    routes: ROUTES,
    send: (route, context) => {
      // An event this process never read, so its view must come from the database.
      const eventKey = route.method === 'GET' ? `never-read-${randomUUID()}` : context.eventKey;
      return route.valid
        ? sendBody(
            { ...context, eventKey },
            route,
            JSON.stringify(route.valid()),
            'application/json',
          )
        : rawRequest(context.port, requestLines(route, route.path(eventKey), randomUUID()));
    },
    status: 503,
    message: () => UNAVAILABLE,
    reason: () => 'unavailable',
  },
];

/** Answers that belong to no route: Node's and the router's. */
const NO_ROUTE: Array<Omit<Case, 'routes' | 'send'> & { send(port: number): Promise<Answer> }> = [
  {
    name: 'an unknown route',
    send: (port) => rawRequest(port, ['GET /nope HTTP/1.1', 'Host: x', 'Connection: close']),
    status: 404,
    message: () => '요청한 경로를 찾을 수 없습니다.',
    reason: () => 'no_route',
  },
  {
    name: 'bytes that are not HTTP',
    send: (port) => rawRequest(port, ['GARBAGE /\u0001 nonsense']),
    status: 400,
    message: () => '요청 형식이 올바르지 않습니다.',
    generatedId: true,
  },
  {
    name: 'headers over the limit (431)',
    send: (port) =>
      rawRequest(port, ['GET /events HTTP/1.1', 'Host: x', `X-Padding: ${'p'.repeat(20_000)}`]),
    status: 431,
    message: () => '요청 헤더가 너무 큽니다.',
    generatedId: true,
  },
  {
    name: 'headers that stall (408)',
    send: (port) =>
      new Promise((resolve, reject) => {
        const socket = connectTcp({ port, host: '127.0.0.1' });
        let received = '';
        socket.on('data', (chunk) => (received += chunk.toString('utf8')));
        socket.on('error', reject);
        socket.on('close', () => resolve(parseAnswer(received)));
        socket.on('connect', () => socket.write('GET /events HTTP/1.1\r\nHost: x\r\n'));
      }),
    status: 408,
    message: () => '요청을 제시간에 다 받지 못했습니다. 다시 시도해주세요.',
    reason: () => 'request_timeout',
    generatedId: true,
  },
];

/** What every answer carries, whoever gave it: the security headers, a request id, the error shape. */
function expectOneEdge(answer: Answer, status: number, message?: string | RegExp): void {
  expect(answer.status).toBe(status);
  expect(answer.headers).toMatchObject(SECURITY_HEADERS);
  expect(answer.headers['x-request-id']).toMatch(/^[\w.:-]{1,128}$/);
  if (status === 204) return;
  const body = JSON.parse(answer.text) as { statusCode: number; message: string };
  expect(Object.keys(body).sort()).toEqual(['message', 'statusCode']);
  expect(body.statusCode).toBe(status);
  if (message !== undefined) expect(body.message).toMatch(message);
}

/**
 * One edge for every answer, on both pipelines (the routes Nest serves and the ticket route Fastify serves
 * itself), from one table of cases × routes, against the production build: the security headers and the
 * request id on every answer, the error shape and the reason code on its log line, one 415 for every body
 * that is not JSON, the field's 400 for an over-long key, one rule for a stored key resent with an invalid
 * body — also while the database is away.
 */
describe('one edge for every answer (both pipelines)', () => {
  const services = servicesOnFreshDatabase();
  let service: ServiceProcess;
  let proxy: TcpProxy;
  let db: Knex;
  const context: Context = { port: 0, eventKey: '', storedKeys: new Map() };
  /** Request id → the reason its log line must carry. */
  const reasons = new Map<string, string>();

  beforeAll(async () => {
    db = connect(services.databaseUrl);
    const target = new URL(services.databaseUrl);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) });
    service = await services.start({
      DATABASE_URL: proxy.rewrite(services.databaseUrl),
      CORS_ORIGINS: ORIGIN,
      HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      HTTP_HEADERS_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      DB_ACQUIRE_TIMEOUT_MS: '1000',
      DB_STATEMENT_TIMEOUT_MS: '1000',
    });
    context.port = Number(new URL(service.url).port);
    const event = eventBody({ ...OPEN_NOW, totalQuantity: 1_000_000 });
    await fetch(`${service.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    context.eventKey = event.eventKey;
    for (const route of WITH_BODY) {
      const key = `stored-${randomUUID()}`;
      const answer = await fetch(`${service.url}${route.path(context.eventKey)}`, {
        method: route.method,
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(route.valid!()),
      });
      expect(answer.status).toBeLessThan(300);
      context.storedKeys.set(route.name, key);
    }
  });
  afterAll(async () => {
    await proxy?.stop();
    await db?.destroy();
  });

  const table = (cases: Case[]) =>
    cases.flatMap((c) =>
      c.routes.map((route) => [`${c.name} → ${route.name} (${route.pipeline})`, c, route] as const),
    );

  async function check(c: Case, route: Route): Promise<void> {
    const answer = await c.send(route, context);
    expectOneEdge(answer, c.status, c.message?.(route));
    if (c.reason) reasons.set(answer.headers['x-request-id'], c.reason(route));
    if (c.status === 204) {
      expect(answer.headers).toMatchObject({ 'access-control-allow-origin': ORIGIN });
      expect(answer.headers['access-control-allow-methods']).toContain(route.method);
      expect(answer.headers['access-control-expose-headers'].split(', ')).toEqual(
        expect.arrayContaining(['Retry-After', 'Idempotent-Replayed', 'X-Request-Id', 'ETag']),
      );
    }
  }

  describe('database up', () => {
    it.each(table(DATABASE_UP))('%s', async (_, c, route) => {
      const keys = await db('idempotencyKeys').orderBy('idempotencyKey').select('*');
      await check(c, route);
      // Whatever the case, no stored answer changed and none was added.
      expect(await db('idempotencyKeys').orderBy('idempotencyKey').select('*')).toEqual(keys);
    });

    it.each(NO_ROUTE.map((c) => [c.name, c] as const))('%s', async (_, c) => {
      const answer = await c.send(context.port);
      expectOneEdge(answer, c.status, c.message?.({} as Route));
      if (c.reason) reasons.set(answer.headers['x-request-id'], c.reason({} as Route));
    });
  });

  describe('database away (its TCP proxy stopped)', () => {
    beforeAll(() => proxy.stop());
    afterAll(() => proxy.start());

    it.each(table(DATABASE_AWAY))('%s', async (_, c, route) => check(c, route));
  });

  it('logs each refusal with its stable reason code', async () => {
    const byId = () =>
      new Map(
        service
          .logs()
          .filter((entry) => ['request completed', 'request timed out'].includes(String(entry.msg)))
          .map((entry) => [entry.requestId as string, entry]),
      );
    // Lines are written asynchronously: wait until every one has arrived.
    await waitUntil(
      () => Promise.resolve([...reasons.keys()].every((id) => byId().has(id))),
      STUCK_AFTER_MS,
      () =>
        `log lines missing for ${[...reasons.keys()].filter((id) => !byId().has(id)).join(', ')}`,
    );
    const lines = byId();
    // Every case with a reason was answered before this test (it runs last) and was recorded.
    expect(reasons.size).toBe(
      table(DATABASE_UP).filter(([, c]) => c.reason).length +
        NO_ROUTE.filter((c) => c.reason).length +
        table(DATABASE_AWAY).filter(([, c]) => c.reason).length,
    );
    expect(
      Object.fromEntries([...reasons.keys()].map((id) => [id, lines.get(id)!.reason])),
    ).toEqual(Object.fromEntries(reasons));
  });
});
