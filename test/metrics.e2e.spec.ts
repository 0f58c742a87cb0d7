import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { Sample, parseExposition, valueOf } from './support/exposition';
import { createEvent, eventBody, issue } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';

async function scrape(url: string, token?: string): Promise<Sample[]> {
  const call = request(url).get('/metrics');
  const response = await (token ? call.set('Authorization', `Bearer ${token}`) : call).expect(200);
  expect(response.headers['content-type']).toContain('text/plain');
  return parseExposition(response.text);
}

const ISSUE_ROUTE = '/events/:eventKey/tickets';

describe('metrics', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('moves every counter by exactly the traffic sent', async () => {
    const before = await scrape(t.url);
    // Every outcome, scope and result has its series from the start (at 0 until it happens).
    for (const outcome of ['issued', 'sold_out', 'key_in_flight', 'unavailable']) {
      expect(
        before.some(
          (s) => s.name === 'golden_ticket_issuance_requests_total' && s.labels.outcome === outcome,
        ),
      ).toBe(true);
    }
    expect(
      before
        .filter((s) => s.name === 'golden_ticket_throttled_requests_total')
        .map((s) => s.labels.scope),
    ).toEqual(['ip', 'user']);
    const event = await createEvent(t.url, { totalQuantity: 5 });
    const other = await createEvent(t.url, { totalQuantity: 100 });
    // 8 users for 5 tickets, one after another: 5 issued, 3 sold out.
    for (let userId = 1; userId <= 8; userId++) await issue(t.url, event.eventKey, userId);
    // 2 repeats: one natural (already held), one retransmission with its key (replayed).
    await issue(t.url, event.eventKey, 1).expect(200);
    const key = randomUUID();
    await issue(t.url, other.eventKey, 50, key).expect(201);
    await issue(t.url, other.eventKey, 50, key).expect(201);
    // 1 unknown event.
    await issue(t.url, 'no-such-event', 1).expect(404);
    // 1 path Fastify refuses before routing (not valid percent-encoding).
    await request(t.url).get('/events/%E0%A4%A').expect(400);
    // The Idempotency-Key on another route: stored, replayed, reused.
    const body = eventBody();
    const eventKey = randomUUID();
    await request(t.url).post('/events').set('Idempotency-Key', eventKey).send(body).expect(201);
    await request(t.url).post('/events').set('Idempotency-Key', eventKey).send(body).expect(201);
    await request(t.url)
      .post('/events')
      .set('Idempotency-Key', eventKey)
      .send(eventBody())
      .expect(422);

    // The remaining-tickets gauge is read at most once a second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const after = await scrape(t.url);
    const moved = (name: string, labels: Record<string, string> = {}) =>
      valueOf(after, name, labels) - valueOf(before, name, labels);
    const outcomes = {
      issued: 6,
      sold_out: 3,
      already_held: 1,
      replayed: 1,
      not_found: 1,
      daily_limit_reached: 0,
      outside_period: 0,
      switched_off: 0,
      key_reused: 0,
      key_in_flight: 0,
      unavailable: 0,
    };
    for (const [outcome, count] of Object.entries(outcomes)) {
      expect([outcome, moved('golden_ticket_issuance_requests_total', { outcome })]).toEqual([
        outcome,
        count,
      ]);
    }
    expect(moved('golden_ticket_idempotency_requests_total', { result: 'stored' })).toBe(1);
    expect(moved('golden_ticket_idempotency_requests_total', { result: 'replayed' })).toBe(1);
    expect(moved('golden_ticket_idempotency_requests_total', { result: 'key_reused' })).toBe(1);

    // The latency histogram counts each request once, under its route pattern and status.
    const requests = (route: string, method: string, status: number) =>
      moved('http_request_duration_seconds_count', {
        route,
        method,
        status_code: String(status),
      });
    expect(requests(ISSUE_ROUTE, 'POST', 201)).toBe(7);
    expect(requests(ISSUE_ROUTE, 'POST', 409)).toBe(3);
    expect(requests(ISSUE_ROUTE, 'POST', 200)).toBe(1);
    expect(requests(ISSUE_ROUTE, 'POST', 404)).toBe(1);
    expect(requests('(unmatched)', 'GET', 400)).toBe(1);
    expect(requests('/events', 'POST', 201)).toBe(4);
    expect(requests('/events', 'POST', 422)).toBe(1);
    const buckets = after.filter(
      (s) =>
        s.name === 'http_request_duration_seconds_bucket' &&
        s.labels.route === ISSUE_ROUTE &&
        s.labels.status_code === '409' &&
        s.labels.le === '+Inf',
    );
    expect(buckets.map((s) => s.value)).toEqual([
      valueOf(after, 'http_request_duration_seconds_count', {
        route: ISSUE_ROUTE,
        status_code: '409',
      }),
    ]);

    // Batches: every request that was not answered from memory went through one.
    expect(moved('golden_ticket_issuance_batch_size_count')).toBeGreaterThan(0);
    expect(moved('golden_ticket_issuance_batch_duration_seconds_count')).toBe(
      moved('golden_ticket_issuance_batch_size_count'),
    );
    expect(moved('golden_ticket_serialization_retries_total')).toBe(0);
    expect(valueOf(after, 'golden_ticket_issuance_queue_depth')).toBe(0);
    for (const state of ['used', 'free', 'pending']) {
      expect(
        after.some(
          (s) => s.name === 'golden_ticket_db_pool_connections' && s.labels.state === state,
        ),
      ).toBe(true);
    }
    // Tickets left, for the events running now (the test clock is inside their period).
    expect(
      after.filter(
        (s) =>
          s.name === 'golden_ticket_event_remaining_tickets' &&
          s.labels.event_key === event.eventKey,
      ),
    ).toHaveLength(1);
    expect(
      valueOf(after, 'golden_ticket_event_remaining_tickets', { event_key: event.eventKey }),
    ).toBe(0);
    expect(
      valueOf(after, 'golden_ticket_event_remaining_tickets', { event_key: other.eventKey }),
    ).toBe(99);
    // prom-client's defaults.
    expect(after.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    expect(after.some((s) => s.name === 'process_cpu_seconds_total')).toBe(true);
  });

  it('keeps labels bounded: no raw URL, user, key or event outside the remaining-tickets gauge', async () => {
    const secret = `secret-${randomUUID()}`;
    await issue(t.url, 'some-event', 424242, secret);
    await Promise.all(
      Array.from({ length: 1_000 }, (_, i) =>
        request(t.url).get(`/random-${randomUUID()}/${i}`).expect(404),
      ),
    );
    const samples = await scrape(t.url);
    const unmatched = samples.filter(
      (s) =>
        s.name === 'http_request_duration_seconds_count' &&
        s.labels.route === '(unmatched)' &&
        s.labels.status_code === '404',
    );
    // A thousand unknown paths: one series (per method and status), not a thousand.
    expect(unmatched).toHaveLength(1);
    expect(unmatched[0].value).toBeGreaterThanOrEqual(1_000);
    for (const sample of samples) {
      for (const [name, value] of Object.entries(sample.labels)) {
        expect(value).not.toContain('random-');
        expect(value).not.toContain(secret);
        expect(value).not.toContain('424242');
        if (name === 'route') expect(value === '(unmatched)' || value.startsWith('/')).toBe(true);
        if (name === 'event_key') expect(sample.name).toBe('golden_ticket_event_remaining_tickets');
      }
    }
  });
});

describe('metrics under a 429 storm, and guarded by METRICS_TOKEN', () => {
  const token = 'metrics-token-0123456789';
  let t: TestApp;

  beforeAll(async () => {
    // 3 a minute: the 27 after the first 3 have places 20 s and more away, past the delay bound (and the
    // window fits the storm however busy the machine).
    t = await startTestApp({
      env: { THROTTLE_IP_LIMIT: '3', THROTTLE_IP_TTL_MS: '60000', METRICS_TOKEN: token },
    });
  });
  afterAll(() => t.close());

  it('answers while every other request is refused 429, and only with the token', async () => {
    const storm = await Promise.all(
      Array.from({ length: 30 }, () => request(t.url).get('/events')),
    );
    expect(storm.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(27);
    for (let i = 0; i < 5; i++) {
      const samples = await scrape(t.url, token);
      expect(
        valueOf(samples, 'golden_ticket_throttled_requests_total', { scope: 'ip' }),
      ).toBeGreaterThanOrEqual(27);
    }
    const refused = await request(t.url).get('/metrics').expect(401);
    expect(refused.body).toEqual({
      statusCode: 401,
      message:
        '메트릭 조회 인증이 필요합니다. Authorization: Bearer <메트릭 토큰> 헤더를 확인해주세요.',
    });
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    await request(t.url)
      .get('/metrics')
      .set('Authorization', 'Bearer wrong-token-0000000')
      .expect(401);
  });
});
