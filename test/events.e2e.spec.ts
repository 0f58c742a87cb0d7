import request from 'supertest';
import { startTestApp, TestApp } from './support/test-app';
import { createEvent, eventBody } from './support/fixtures';

describe('events', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ now: '2026-03-10T03:00:00Z' });
  });
  afterAll(() => t.close());

  it('creates an event and answers the spec shape', async () => {
    const body = eventBody({
      totalQuantity: 50,
      dailyLimit: 10,
      startAt: '2026-03-01T09:00:00+09:00',
      endAt: '2026-03-20T18:00:00.750Z',
    });
    const response = await request(t.url).post('/events').send(body).expect(201);
    expect(response.body).toEqual({
      eventKey: body.eventKey,
      name: body.name,
      totalQuantity: 50,
      dailyLimit: 10,
      startAt: '2026-03-01T00:00:00Z',
      endAt: '2026-03-20T18:00:00Z',
      remainingQuantity: 50,
      createdAt: '2026-03-10T03:00:00Z',
    });
    const row = await t.db('events').where('eventKey', body.eventKey).first();
    expect(row).toMatchObject({
      totalQuantity: 50,
      dailyLimit: 10,
      issuedCount: 0,
      isActive: true,
    });
  });

  it('treats an absent dailyLimit as no cap', async () => {
    const { dailyLimit: _omitted, ...body } = eventBody();
    const response = await request(t.url).post('/events').send(body).expect(201);
    expect(response.body.dailyLimit).toBeNull();
  });

  it('refuses a taken eventKey with 409 and the exact message', async () => {
    const event = await createEvent(t.url);
    const response = await request(t.url)
      .post('/events')
      .send(eventBody({ eventKey: event.eventKey }))
      .expect(409);
    expect(response.body).toEqual({ statusCode: 409, message: '이미 존재하는 이벤트입니다.' });
  });

  it('reads an event with todayIssuedCount and isActive', async () => {
    const event = await createEvent(t.url, { totalQuantity: 5, dailyLimit: 3 });
    await request(t.url).post(`/events/${event.eventKey}/tickets`).send({ userId: 1 }).expect(201);
    const response = await request(t.url).get(`/events/${event.eventKey}`).expect(200);
    expect(response.body).toEqual({
      eventKey: event.eventKey,
      name: '골든 티켓 이벤트',
      totalQuantity: 5,
      dailyLimit: 3,
      remainingQuantity: 4,
      todayIssuedCount: 1,
      startAt: '2026-03-01T00:00:00Z',
      endAt: '2026-03-31T23:59:59Z',
      isActive: true,
    });
  });

  it('answers 404 with the exact message for an unknown event', async () => {
    const response = await request(t.url).get('/events/no-such-event').expect(404);
    expect(response.body).toEqual({ statusCode: 404, message: '존재하지 않는 이벤트입니다.' });
  });

  it('lists only running events: in period and switched on', async () => {
    const running = await createEvent(t.url);
    const future = await createEvent(t.url, {
      startAt: '2026-04-01T00:00:00Z',
      endAt: '2026-04-02T00:00:00Z',
    });
    const switchedOff = await createEvent(t.url);
    await request(t.url)
      .patch(`/events/${switchedOff.eventKey}`)
      .send({ isActive: false })
      .expect(200);
    const response = await request(t.url).get('/events').expect(200);
    const keys = (response.body as Array<{ eventKey: string; isActive: boolean }>).map(
      (e) => e.eventKey,
    );
    expect(keys).toContain(running.eventKey);
    expect(keys).not.toContain(future.eventKey);
    expect(keys).not.toContain(switchedOff.eventKey);
    expect((response.body as Array<{ isActive: boolean }>).every((e) => e.isActive)).toBe(true);
  });

  it('switches issuing off and on with PATCH', async () => {
    const event = await createEvent(t.url);
    const off = await request(t.url)
      .patch(`/events/${event.eventKey}`)
      .send({ isActive: false })
      .expect(200);
    expect(off.body).toMatchObject({ eventKey: event.eventKey, isActive: false });
    const refused = await request(t.url)
      .post(`/events/${event.eventKey}/tickets`)
      .send({ userId: 7 })
      .expect(400);
    expect(refused.body).toEqual({ statusCode: 400, message: '현재 발급이 중단된 이벤트입니다.' });
    expect(await t.db('tickets').count({ n: '*' }).first()).toBeDefined();
    const on = await request(t.url)
      .patch(`/events/${event.eventKey}`)
      .send({ isActive: true })
      .expect(200);
    expect(on.body.isActive).toBe(true);
    await request(t.url).post(`/events/${event.eventKey}/tickets`).send({ userId: 7 }).expect(201);
  });

  it('answers 404 when patching an unknown event', async () => {
    const response = await request(t.url)
      .patch('/events/no-such-event')
      .send({ isActive: false })
      .expect(404);
    expect(response.body).toEqual({ statusCode: 404, message: '존재하지 않는 이벤트입니다.' });
  });
});
