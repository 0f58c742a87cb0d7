import request from 'supertest';
import { startTestApp, TestApp } from './support/test-app';
import { createEvent, eventBody } from './support/fixtures';
import { snapshotDatabase } from './support/snapshot';

/** Bad input of every kind: a 400 in the spec's shape that names the problem, and no change in the database. */
describe('bad input', () => {
  let t: TestApp;
  let eventKey: string;

  beforeAll(async () => {
    t = await startTestApp();
    eventKey = (await createEvent(t.url)).eventKey;
  });
  afterAll(() => t.close());

  async function expect400(call: () => request.Test, mentions: string) {
    const before = await snapshotDatabase(t.db);
    const response = await call();
    expect(response.status).toBe(400);
    expect(Object.keys(response.body as object).sort()).toEqual(['message', 'statusCode']);
    expect(response.body.statusCode).toBe(400);
    expect(response.body.message).toContain(mentions);
    expect(await snapshotDatabase(t.db)).toEqual(before);
  }

  const post = (path: string, body: unknown) =>
    request(t.url)
      .post(path)
      .send(body as object);

  describe('POST /events', () => {
    it.each([
      ['eventKey', { eventKey: undefined }],
      ['eventKey', { eventKey: '' }],
      ['eventKey', { eventKey: 'has space' }],
      ['eventKey', { eventKey: 'k'.repeat(101) }],
      ['eventKey', { eventKey: 12 }],
      ['name', { name: '' }],
      ['name', { name: 'n'.repeat(201) }],
      ['name', { name: undefined }],
      ['totalQuantity', { totalQuantity: 0 }],
      ['totalQuantity', { totalQuantity: 1.5 }],
      ['totalQuantity', { totalQuantity: '10' }],
      ['totalQuantity', { totalQuantity: undefined }],
      ['dailyLimit', { dailyLimit: 0 }],
      ['dailyLimit', { dailyLimit: 'x' }],
      ['startAt', { startAt: '2026-03-01T00:00:00' }],
      ['startAt', { startAt: '2026-03-01' }],
      ['startAt', { startAt: 'tomorrow' }],
      ['startAt', { startAt: 1_700_000_000 }],
      ['endAt', { endAt: '2026-02-30T00:00:00Z' }],
      ['endAt', { endAt: undefined }],
      ['startAt', { startAt: '2026-03-31T23:59:59Z' }],
      ['startAt', { startAt: '2026-04-01T00:00:00Z' }],
      // A cap the total can never reach is a typo.
      ['dailyLimit은(는) totalQuantity 이하여야', { totalQuantity: 10, dailyLimit: 50 }],
      // A period already over (the test clock is 2026-03-01T12:00:00Z).
      [
        'endAt은(는) 지금보다 뒤여야',
        { startAt: '2020-01-01T00:00:00Z', endAt: '2020-12-31T00:00:00Z' },
      ],
      [
        'endAt은(는) 지금보다 뒤여야',
        { startAt: '2026-01-01T00:00:00Z', endAt: '2026-03-01T12:00:00Z' },
      ],
      ['extra', { extra: true }],
      // PostgreSQL cannot store a NUL; control characters and lone surrogates do not belong in a name.
      ['name', { name: 'a\u0000b' }],
      ['name', { name: 'line\nbreak' }],
      ['name', { name: 'lone \ud800 surrogate' }],
      // Instants the wire format (four-digit UTC years) cannot write.
      ['endAt', { endAt: '9999-12-31T23:59:59-14:00' }],
      ['startAt', { startAt: '0000-12-31T23:59:59Z' }],
      ['startAt', { startAt: '0001-01-01T08:59:59+09:00' }],
    ])('%s: %j', async (field, overrides) => {
      const body = { ...eventBody(), ...overrides };
      await expect400(() => post('/events', body), field);
    });

    it.each([
      ['2027-02-30T00:00:00Z', '달력에 없는 날짜나 시각'],
      ['2027-01-15T24:00:00Z', '달력에 없는 날짜나 시각'],
      ['2027-01-15T10:00:00+15:00', '달력에 없는 날짜나 시각'],
      ['2027-01-15T10:00:00', '시간대(Z 또는 +09:00)를 포함한'],
      ['2027-01-15', '시간대(Z 또는 +09:00)를 포함한'],
    ])('endAt %s: says what is wrong with it', async (endAt, says) => {
      await expect400(() => post('/events', { ...eventBody(), endAt }), `endAt은(는) ${says}`);
    });

    it('a body that is not an object', async () => {
      await expect400(() => post('/events', [1, 2]), 'JSON 객체');
    });
  });

  describe('POST /events/:eventKey/tickets', () => {
    it.each([
      ['userId', {}],
      ['userId', { userId: 0 }],
      ['userId', { userId: -3 }],
      ['userId', { userId: 1.5 }],
      ['userId', { userId: '1' }],
      ['userId', { userId: null }],
      ['userId', { userId: 2 ** 53 }],
      ['userId', { userId: true }],
      ['extra', { userId: 1, extra: 1 }],
      // A declared field's error before an undeclared field's, as joi reported them.
      ['userId', { extra: 1, userId: -1 }],
    ])('%s: %j', async (field, body) => {
      await expect400(() => post(`/events/${eventKey}/tickets`, body), field);
    });

    it.each([
      ['{"userId":1e400}', 'userId은(는) 유한한 숫자여야 합니다.'],
      ['{"userId":14,"":1}', '""은(는) 허용되지 않는 항목입니다.'],
    ])('%s: %s', async (raw, message) => {
      const call = () =>
        request(t.url)
          .post(`/events/${eventKey}/tickets`)
          .set('content-type', 'application/json')
          .send(raw);
      await expect400(call, message);
    });

    it('an eventKey that is not a slug', async () => {
      await expect400(() => post('/events/bad.key/tickets', { userId: 1 }), 'eventKey');
    });

    it('malformed JSON', async () => {
      await expect400(
        () =>
          request(t.url)
            .post(`/events/${eventKey}/tickets`)
            .set('content-type', 'application/json')
            .send('{"userId": 1'),
        'JSON',
      );
    });

    it.each([undefined, 'deep-nesting-key'])(
      'a body nested thousands of levels deep (Idempotency-Key: %s)',
      async (key) => {
        const depth = 2_500;
        const nested = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        const call = () => {
          const sent = request(t.url)
            .post(`/events/${eventKey}/tickets`)
            .set('content-type', 'application/json');
          return (key ? sent.set('Idempotency-Key', key) : sent).send(nested);
        };
        await expect400(call, '중첩');
      },
    );

    it('an empty JSON body', async () => {
      await expect400(
        () =>
          request(t.url)
            .post(`/events/${eventKey}/tickets`)
            .set('content-type', 'application/json')
            .send(''),
        '비어',
      );
    });
  });

  describe('a path that is not valid percent-encoding', () => {
    it.each([
      ['GET', '/events/%E0%A4%A'],
      ['POST', '/events/%E0%A4%A/tickets'],
      ['PATCH', '/events/%ZZ'],
      ['GET', '/users/%C3%28/tickets'],
    ])('%s %s', async (method, path) => {
      await expect400(
        () =>
          request(t.url)
            [method.toLowerCase() as 'get' | 'post' | 'patch'](path)
            .send({ userId: 1 }),
        '퍼센트 인코딩',
      );
    });
  });

  describe('GET /users/:userId/tickets', () => {
    it.each(['abc', '0', '-1', '1.5', '99999999999999999999'])('%s', async (userId) => {
      await expect400(() => request(t.url).get(`/users/${userId}/tickets`), 'userId');
    });
  });

  describe('PATCH /events/:eventKey', () => {
    it.each([
      ['isActive', {}],
      ['isActive', { isActive: 'false' }],
      ['isActive', { isActive: 0 }],
      ['eventKey은(는) 바꿀 수 없습니다', { isActive: false, eventKey: 'other' }],
      ['extra', { name: 'x', extra: 1 }],
      ['name', { name: '' }],
      ['totalQuantity', { totalQuantity: 0 }],
      ['dailyLimit', { dailyLimit: 1.5 }],
      ['startAt', { startAt: '2026-03-01T00:00:00' }],
      ['endAt', { endAt: '2027-02-30T00:00:00Z' }],
      // Rules between the fields of one body, whatever the event's state.
      [
        'startAt은 endAt보다 이전이어야',
        { startAt: '2026-05-01T00:00:00Z', endAt: '2026-04-01T00:00:00Z' },
      ],
      ['dailyLimit은(는) totalQuantity 이하여야', { totalQuantity: 5, dailyLimit: 6 }],
    ])('%s: %j', async (mentions, body) => {
      await expect400(() => request(t.url).patch(`/events/${eventKey}`).send(body), mentions);
    });
  });
});
