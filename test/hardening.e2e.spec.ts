import request from 'supertest';
import { startTestApp, TestApp } from './support/test-app';
import { createEvent, eventBody, issue } from './support/fixtures';
import { snapshotDatabase } from './support/snapshot';

const TOKEN = 'correct-horse-battery-staple-42';
const UNAUTHORIZED = {
  statusCode: 401,
  message: '관리자 인증이 필요합니다. Authorization: Bearer <관리자 토큰> 헤더를 확인해주세요.',
};

describe('admin credentials (ADMIN_TOKEN set)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { ADMIN_TOKEN: TOKEN } });
  });
  afterAll(() => t.close());

  it.each([
    ['no header', undefined],
    ['a wrong token', 'Bearer wrong-token-of-some-length'],
    ['another scheme', `Basic ${TOKEN}`],
  ])('refuses POST /events and PATCH with %s: 401, nothing changes', async (_, authorization) => {
    const event = await request(t.url)
      .post('/events')
      .set('Authorization', `Bearer ${TOKEN}`)
      .send(eventBody())
      .expect(201);
    const before = await snapshotDatabase(t.db);
    const create = request(t.url).post('/events').set('Idempotency-Key', 'admin-refused');
    const patch = request(t.url).patch(`/events/${event.body.eventKey}`);
    for (const call of [create.send(eventBody()), patch.send({ isActive: false })]) {
      const response = await (authorization ? call.set('Authorization', authorization) : call);
      expect(response.status).toBe(401);
      expect(response.body).toEqual(UNAUTHORIZED);
      expect(response.headers['www-authenticate']).toBe('Bearer');
    }
    expect(await snapshotDatabase(t.db)).toEqual(before);
  });

  it('lets the right token through, and leaves reads and issuance open', async () => {
    const body = eventBody();
    await request(t.url)
      .post('/events')
      .set('Authorization', `Bearer ${TOKEN}`)
      .send(body)
      .expect(201);
    await request(t.url)
      .patch(`/events/${body.eventKey}`)
      .set('Authorization', `Bearer ${TOKEN}`)
      .send({ isActive: true })
      .expect(200);
    await request(t.url).get(`/events/${body.eventKey}`).expect(200);
    await issue(t.url, body.eventKey, 1).expect(201);
  });
});

describe('hardening', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { BODY_LIMIT_BYTES: '1024' } });
  });
  afterAll(() => t.close());

  it('answers an oversized body with 413 in the error shape', async () => {
    const event = await createEvent(t.url);
    const response = await request(t.url)
      .post(`/events/${event.eventKey}/tickets`)
      .set('content-type', 'application/json')
      .send(JSON.stringify({ userId: 1, padding: 'x'.repeat(2048) }));
    expect(response.status).toBe(413);
    expect(response.body).toEqual({ statusCode: 413, message: '요청 본문이 너무 큽니다.' });
    expect(await t.db('tickets')).toHaveLength(0);
  });

  it('answers unknown routes and wrong methods with 404 in the error shape', async () => {
    for (const response of [
      await request(t.url).get('/nope'),
      await request(t.url).delete('/events/some-event'),
      await request(t.url).put('/users/1/tickets').send({}),
    ]) {
      expect(response.status).toBe(404);
      expect(response.body).toEqual({
        statusCode: 404,
        message: '요청한 경로를 찾을 수 없습니다.',
      });
    }
  });

  it("sends OWASP's API security headers and no CORS headers by default", async () => {
    const response = await request(t.url).get('/events').set('Origin', 'https://evil.example');
    expect(response.headers).toMatchObject({
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
    });
    // helmet's document headers are for pages, not JSON.
    expect(response.headers['referrer-policy']).toBeUndefined();
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows only the configured CORS origins', async () => {
    const cors = await startTestApp({ env: { CORS_ORIGINS: 'https://app.example' } });
    try {
      const allowed = await request(cors.url).get('/events').set('Origin', 'https://app.example');
      expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example');
      const other = await request(cors.url).get('/events').set('Origin', 'https://evil.example');
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await cors.close();
    }
  });
});
