import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import request from 'supertest';
import knexFactory, { type Knex } from 'knex';
import { KNEX } from '../src/database/database.module';
import { buildKnexConfig } from '../src/database/knex-config';
import { claimTiming, fingerprintOf } from '../src/idempotency/idempotency-rules';
import { IdempotencyRepository, toStoredResponse } from '../src/idempotency/idempotency.repository';
import { IdempotencyPurger, SWEEP_BLOCKS } from '../src/idempotency/idempotency-purger';
import { startTestApp, TestApp } from './support/test-app';
import { createEvent, eventBody, issue } from './support/fixtures';
import { snapshotDatabase } from './support/snapshot';
import { createTestDatabase } from './support/test-database';

const key = () => `key-${randomUUID()}`;

/** What a replay must reproduce: status, body bytes and the stored headers. */
function essence(response: request.Response) {
  return {
    status: response.status,
    text: response.text,
    contentType: response.headers['content-type'],
    retryAfter: response.headers['retry-after'],
  };
}

/**
 * A request with the header lines given as sent (names and values alternating): supertest keeps one value
 * per header name, and Node would join two lines of one name into "a1, a2" before the service sees them.
 */
function sendRaw(
  url: string,
  method: string,
  path: string,
  body: object,
  headerLines: string[],
): Promise<{ status: number; body: unknown }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const sent = httpRequest(
      `${url}${path}`,
      {
        method,
        // Given as lines, Node adds no Host of its own.
        headers: [
          'host',
          new URL(url).host,
          'content-type',
          'application/json',
          'content-length',
          String(Buffer.byteLength(payload)),
          ...headerLines,
        ],
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('error', reject);
        response.on('end', () => {
          try {
            resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown });
          } catch (error) {
            reject(new Error(`${response.statusCode} ${text}: ${String(error)}`));
          }
        });
      },
    );
    sent.on('error', reject);
    sent.end(payload);
  });
}

describe('Idempotency-Key', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ now: '2026-03-10T03:00:00Z' });
  });
  afterAll(() => t.close());
  beforeEach(() => t.clock.set('2026-03-10T03:00:00Z'));

  describe('replays the first answer byte for byte', () => {
    it('POST /events (201)', async () => {
      const k = key();
      const body = eventBody();
      const first = await request(t.url).post('/events').set('Idempotency-Key', k).send(body);
      expect(first.status).toBe(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      t.clock.advance(60_000);
      const again = await request(t.url).post('/events').set('Idempotency-Key', k).send(body);
      expect(essence(again)).toEqual(essence(first));
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(await t.db('events').where('eventKey', body.eventKey)).toHaveLength(1);
    });

    it('ticket issuance: a 201 stays 201, a 200 stays 200', async () => {
      const event = await createEvent(t.url);
      const k1 = key();
      const issued = await issue(t.url, event.eventKey, 1, k1);
      expect(issued.status).toBe(201);
      const replayed = await issue(t.url, event.eventKey, 1, k1);
      expect(essence(replayed)).toEqual(essence(issued));
      expect(replayed.headers['idempotent-replayed']).toBe('true');

      const k2 = key();
      const held = await issue(t.url, event.eventKey, 1, k2);
      expect(held.status).toBe(200);
      const heldAgain = await issue(t.url, event.eventKey, 1, k2);
      expect(essence(heldAgain)).toEqual(essence(held));
      expect(heldAgain.headers['idempotent-replayed']).toBe('true');
      expect(await t.db('tickets').where({ userId: 1 })).toHaveLength(1);
    });

    it('business refusals: 409 sold out and 400 outside the period', async () => {
      const soldOut = await createEvent(t.url, { totalQuantity: 1 });
      await issue(t.url, soldOut.eventKey, 1).expect(201);
      const k = key();
      const refused = await issue(t.url, soldOut.eventKey, 2, k);
      expect(refused.status).toBe(409);
      expect(essence(await issue(t.url, soldOut.eventKey, 2, k))).toEqual(essence(refused));

      const later = await createEvent(t.url, {
        startAt: '2026-03-10T12:00:00Z',
        endAt: '2026-03-21T00:00:00Z',
      });
      const k2 = key();
      const early = await issue(t.url, later.eventKey, 3, k2);
      expect(early.status).toBe(400);
      // The stored answer is the answer: even once the period opens, this key replays its 400.
      t.clock.set('2026-03-10T12:00:00Z');
      const replay = await issue(t.url, later.eventKey, 3, k2);
      expect(essence(replay)).toEqual(essence(early));
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(await t.db('tickets').where({ userId: 3 })).toHaveLength(0);
    });

    it('PATCH /events/:eventKey', async () => {
      const event = await createEvent(t.url);
      const k = key();
      const first = await request(t.url)
        .patch(`/events/${event.eventKey}`)
        .set('Idempotency-Key', k)
        .send({ isActive: false });
      expect(first.status).toBe(200);
      const again = await request(t.url)
        .patch(`/events/${event.eventKey}`)
        .set('Idempotency-Key', k)
        .send({ isActive: false });
      expect(essence(again)).toEqual(essence(first));
      expect(again.headers['idempotent-replayed']).toBe('true');
    });
  });

  it('100 copies of one request with one key at once: one run, one ticket, one answer', async () => {
    const event = await createEvent(t.url);
    const k = key();
    const responses = await Promise.all(
      Array.from({ length: 100 }, () => issue(t.url, event.eventKey, 4242, k)),
    );
    const answered = responses.filter((r) => r.status !== 409);
    const inFlight = responses.filter((r) => r.status === 409);
    expect(answered.length).toBeGreaterThan(0);
    for (const r of answered) expect(r.status).toBe(201);
    expect(new Set(answered.map((r) => r.text)).size).toBe(1);
    for (const r of inFlight) {
      expect(r.body.message).toBe(
        '같은 Idempotency-Key의 요청이 아직 처리 중입니다. 잠시 후 다시 시도해주세요.',
      );
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    const tickets = await t.db('tickets').where({ userId: 4242 });
    expect(tickets).toHaveLength(1);
    expect(answered[0].body.ticketId).toBe(tickets[0].id);
    const stored = await t.db('idempotencyKeys').where({ idempotencyKey: k }).first();
    expect(stored.responseStatus).toBe(201);
    expect(stored.responseBody).toBe(answered[0].text);
  });

  it('answers 422 when a key is reused for another body or target', async () => {
    const event = await createEvent(t.url);
    const other = await createEvent(t.url);
    const k = key();
    await issue(t.url, event.eventKey, 1, k).expect(201);
    const before = await snapshotDatabase(t.db);
    for (const reuse of [
      issue(t.url, event.eventKey, 2, k),
      issue(t.url, other.eventKey, 1, k),
      request(t.url)
        .patch(`/events/${event.eventKey}`)
        .set('Idempotency-Key', k)
        .send({ isActive: true }),
    ]) {
      const response = await reuse;
      expect(response.status).toBe(422);
      expect(response.body).toEqual({
        statusCode: 422,
        message: '이 Idempotency-Key는 다른 요청에 이미 사용되었습니다. 새 키로 요청해주세요.',
      });
    }
    expect(await snapshotDatabase(t.db)).toEqual(before);
  });

  it('treats the same body with its keys in another order as the same request', async () => {
    const k = key();
    const body = eventBody();
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const first = await request(t.url).post('/events').set('Idempotency-Key', k).send(body);
    const again = await request(t.url).post('/events').set('Idempotency-Key', k).send(reordered);
    expect(again.status).toBe(first.status);
    expect(again.headers['idempotent-replayed']).toBe('true');
  });

  it('treats a query string or another percent-encoding of the same path as the same request', async () => {
    const event = await createEvent(t.url);
    const k = key();
    const first = await issue(t.url, event.eventKey, 1, k).expect(201);
    // `%65` is `e`: the decoded eventKey is the same, so is the route.
    const encoded = event.eventKey.replace(/^e/, '%65');
    for (const path of [
      `/events/${event.eventKey}/tickets?utm_source=push`,
      `/events/${encoded}/tickets`,
    ]) {
      const again = await request(t.url).post(path).set('Idempotency-Key', k).send({ userId: 1 });
      expect(essence(again)).toEqual(essence(first));
      expect(again.headers['idempotent-replayed']).toBe('true');
    }
    const patched = await request(t.url)
      .patch(`/events/${event.eventKey}`)
      .set('Idempotency-Key', `${k}-patch`)
      .send({ isActive: true });
    const patchedAgain = await request(t.url)
      .patch(`/events/${encoded}?again=1`)
      .set('Idempotency-Key', `${k}-patch`)
      .send({ isActive: true });
    expect(essence(patchedAgain)).toEqual(essence(patched));
    expect(patchedAgain.headers['idempotent-replayed']).toBe('true');
  });

  it.each([
    ['empty', ''],
    ['over 255 characters', 'k'.repeat(256)],
    ['non-printable', 'tab\there'],
    ['non-ASCII', 'café'],
  ])('answers 400 to a malformed key (%s) and changes nothing', async (_, malformed) => {
    const event = await createEvent(t.url);
    const before = await snapshotDatabase(t.db);
    const response = await request(t.url)
      .post(`/events/${event.eventKey}/tickets`)
      .set('Idempotency-Key', malformed)
      .send({ userId: 1 });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      statusCode: 400,
      message: 'Idempotency-Key 헤더는 1~255자의 출력 가능한 ASCII 문자여야 합니다.',
    });
    expect(await snapshotDatabase(t.db)).toEqual(before);
  });

  it('accepts a key of exactly 255 characters', async () => {
    const event = await createEvent(t.url);
    await issue(t.url, event.eventKey, 1, 'k'.repeat(255)).expect(201);
  });

  it('answers 400 to two Idempotency-Key headers on every route (Nest and Fastify served) and keeps nothing', async () => {
    const event = await createEvent(t.url);
    const [k1, k2] = [key(), key()];
    const before = await snapshotDatabase(t.db);
    const requests: Array<[string, string, object]> = [
      ['POST', '/events', eventBody()],
      ['PATCH', `/events/${event.eventKey}`, { isActive: false }],
      // The ticket route Fastify serves itself.
      ['POST', `/events/${event.eventKey}/tickets`, { userId: 1 }],
    ];
    for (const [method, path, body] of requests) {
      // Any spelling of the name: header names are case-insensitive.
      for (const lines of [
        ['Idempotency-Key', k1, 'Idempotency-Key', k2],
        ['idempotency-key', k1, 'IDEMPOTENCY-KEY', k1],
      ]) {
        expect(await sendRaw(t.url, method, path, body, lines)).toEqual({
          status: 400,
          body: { statusCode: 400, message: 'Idempotency-Key 헤더는 하나만 보낼 수 있습니다.' },
        });
      }
    }
    expect(await snapshotDatabase(t.db)).toEqual(before);
    // One header whose value has a comma is one key, as the draft allows; and neither key was kept.
    const joined = `${k1}, ${k2}`;
    const ticket = await sendRaw(
      t.url,
      'POST',
      `/events/${event.eventKey}/tickets`,
      { userId: 1 },
      ['Idempotency-Key', joined],
    );
    expect(ticket.status).toBe(201);
    const keys = await t.db('idempotencyKeys').whereIn('idempotencyKey', [k1, k2, joined]);
    expect(keys.map((row: { idempotencyKey: string }) => row.idempotencyKey)).toEqual([joined]);
  });

  it('processes an expired key afresh, and the purge job deletes expired keys', async () => {
    const event = await createEvent(t.url, { totalQuantity: 10 });
    const k = key();
    const first = await issue(t.url, event.eventKey, 1, k).expect(201);
    t.clock.advance(24 * 60 * 60 * 1000 + 1000);
    const fresh = await issue(t.url, event.eventKey, 1, k);
    expect(fresh.status).toBe(200); // handled again: the user already holds the ticket
    expect(fresh.headers['idempotent-replayed']).toBeUndefined();
    expect(fresh.body.ticketId).toBe(first.body.ticketId);

    const purger = t.app.get(IdempotencyPurger);
    const other = key();
    await issue(t.url, event.eventKey, 2, other).expect(201);
    t.clock.advance(24 * 60 * 60 * 1000 + 1000);
    expect(await purger.purgeExpired()).toBeGreaterThanOrEqual(2);
    expect(await t.db('idempotencyKeys').whereIn('idempotencyKey', [k, other])).toHaveLength(0);
  });

  it('the purge sweeps every block range of the table and deletes exactly the expired keys', async () => {
    const repository = t.app.get(IdempotencyRepository);
    const knex = t.app.get<Knex>(KNEX);
    const response = toStoredResponse({ status: 409, body: { statusCode: 409 } });
    const rows = (n: number, ttlSeconds: number) =>
      Array.from({ length: n }, () => ({
        request: {
          key: key(),
          fingerprint: fingerprintOf('POST', '/events/:eventKey/tickets', { eventKey: 'e' }, {}),
        },
        response,
        timing: claimTiming(t.clock.now(), { ttlSeconds }),
      }));
    // Interleaved, so both kinds lie in every block range.
    const groups = Array.from({ length: 10 }, (_, i) => rows(400, i % 2 === 0 ? 60 : 3_600));
    for (const group of groups) await repository.insertAnswers(knex, group);
    expect(await repository.blocks(knex)).toBeGreaterThan(2 * SWEEP_BLOCKS);

    t.clock.advance(120_000);
    await t.app.get(IdempotencyPurger).purgeExpired();
    const left = new Set(
      (
        await t
          .db('idempotencyKeys')
          .whereIn(
            'idempotencyKey',
            groups.flat().map(({ request }) => request.key),
          )
          .select('idempotencyKey')
      ).map((row: { idempotencyKey: string }) => row.idempotencyKey),
    );
    groups.forEach((group, i) => {
      for (const { request } of group) expect(left.has(request.key)).toBe(i % 2 === 1);
    });
  });

  it('one sweep a purge interval for the whole fleet: the first to ask starts it', async () => {
    const repository = t.app.get(IdempotencyRepository);
    const knex = t.app.get<Knex>(KNEX);
    await knex.raw("UPDATE idempotency_purge SET swept_at = '-infinity'");
    const asked = await Promise.all(
      Array.from({ length: 5 }, () => repository.startSweep(knex, 3_600)),
    );
    expect(asked.filter(Boolean)).toHaveLength(1);
    expect(await repository.startSweep(knex, 3_600)).toBe(false);
    // An interval later by the database's clock, the next one starts.
    await knex.raw("UPDATE idempotency_purge SET swept_at = now() - interval '1 hour'");
    expect(await repository.startSweep(knex, 3_600)).toBe(true);
  });

  it("the group commit's statement stores the fresh keys and reads back exactly the records already there", async () => {
    const repository = t.app.get(IdempotencyRepository);
    const knex = t.app.get<Knex>(KNEX);
    const answer = (k: string, userId: number) => ({
      request: {
        key: k,
        fingerprint: fingerprintOf(
          'POST',
          '/events/:eventKey/tickets',
          { eventKey: 'e' },
          { userId },
        ),
      },
      response: toStoredResponse({ status: 409, body: { userId } }),
      timing: claimTiming(t.clock.now(), { ttlSeconds: 60 }),
    });
    const [a, b, c, d] = [key(), key(), key(), key()];

    const fresh = await repository.insertAnswers(knex, [answer(a, 1), answer(b, 2)]);
    expect(fresh).toEqual({ inserted: new Set([a, b]), existing: [] });

    const mixed = await repository.insertAnswers(knex, [
      answer(c, 3),
      answer(a, 9),
      answer(d, 4),
      answer(b, 2),
    ]);
    expect(mixed.inserted).toEqual(new Set([c, d]));
    const read = mixed.existing.map((r) => [r.idempotencyKey, r.responseBody, r.requestHash]);
    expect(read.sort()).toEqual(
      [
        [a, '{"userId":1}', answer(a, 1).request.fingerprint.requestHash],
        [b, '{"userId":2}', answer(b, 2).request.fingerprint.requestHash],
      ].sort(),
    );
  });

  it.each([
    ['new and empty', false],
    ['analyzed while small', true],
  ])(
    "the group commit's read-back stays an index lookup after its statement ran on a table %s",
    async (_, analyzedSmall) => {
      // The statement is named: a cached generic plan, made for the table as it was when first run, would
      // scan every key (once a group, or once an answer) for each group that met a conflict, until the next
      // autoanalyze replans it.
      const database = await createTestDatabase();
      const knex = knexFactory(buildKnexConfig({ url: database.url, poolMin: 1, poolMax: 1 }));
      try {
        const repository = new IdempotencyRepository();
        await knex.raw('ALTER TABLE idempotency_keys SET (autovacuum_enabled = false)');
        if (analyzedSmall) {
          // As the first autoanalyze sees it: a few dozen rows.
          await knex.raw(
            `INSERT INTO idempotency_keys (idempotency_key, method, path, request_hash, response_status,
                                         response_body, created_at, expires_at)
           SELECT 'early-' || i, 'POST', '/p', 'h', 409, '{}', now(), now() + interval '1 hour'
             FROM generate_series(1, 60) i`,
          );
          await knex.raw('ANALYZE idempotency_keys');
        }
        const answer = (k: string) => ({
          request: {
            key: k,
            fingerprint: fingerprintOf('POST', '/events/:eventKey/tickets', { eventKey: 'e' }, {}),
          },
          response: toStoredResponse({ status: 409, body: { k } }),
          timing: claimTiming(t.clock.now(), { ttlSeconds: 60 }),
        });
        // Planned on the empty table (one connection, so one backend's cached plan).
        const first = key();
        for (let run = 0; run < 8; run++) {
          await repository.insertAnswers(knex, [answer(run === 0 ? first : key())]);
          await repository.insertAnswers(knex, [answer(first)]);
        }
        await knex.raw(
          `INSERT INTO idempotency_keys (idempotency_key, method, path, request_hash, response_status,
                                       response_body, created_at, expires_at)
         SELECT 'bulk-' || i, 'POST', '/p', 'h', 409, '{}', now(), now() + interval '1 hour'
           FROM generate_series(1, 20000) i`,
        );
        const seqScans = async () => {
          await knex.raw('SELECT pg_stat_force_next_flush()');
          const { rows } = await knex.raw<{ rows: Array<{ seq_scan: string }> }>(
            "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'idempotency_keys'",
          );
          return Number(rows[0].seq_scan);
        };
        const before = await seqScans();
        const fresh = key();
        const mixed = await repository.insertAnswers(knex, [answer(fresh), answer(first)]);
        expect(mixed.inserted).toEqual(new Set([fresh]));
        expect(mixed.existing.map((r) => [r.idempotencyKey, r.responseBody])).toEqual([
          [first, JSON.stringify({ k: first })],
        ]);
        expect(await seqScans()).toBe(before);
      } finally {
        await knex.destroy();
        await database.drop();
      }
    },
  );

  describe('a request that died mid-flight', () => {
    async function leaveClaim(k: string, eventKey: string, body: object, lockedAt: Date) {
      await t.db('idempotencyKeys').insert({
        idempotencyKey: k,
        method: 'POST',
        path: '/events/:eventKey/tickets',
        requestHash: fingerprintOf('POST', '/events/:eventKey/tickets', { eventKey }, body)
          .requestHash,
        lockToken: randomUUID(),
        lockedAt,
        createdAt: lockedAt,
        expiresAt: new Date(lockedAt.getTime() + 24 * 60 * 60 * 1000),
      });
    }

    it('blocks the key with 409 + Retry-After while its lock is fresh', async () => {
      const event = await createEvent(t.url);
      const k = key();
      await leaveClaim(k, event.eventKey, { userId: 5 }, new Date(t.clock.now().getTime() - 1000));
      const response = await issue(t.url, event.eventKey, 5, k);
      expect(response.status).toBe(409);
      expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(await t.db('tickets').where({ userId: 5 })).toHaveLength(0);
    });

    it('is taken over by the next copy once its lock timed out', async () => {
      const event = await createEvent(t.url);
      const k = key();
      await leaveClaim(
        k,
        event.eventKey,
        { userId: 6 },
        new Date(t.clock.now().getTime() - 31_000),
      );
      const response = await issue(t.url, event.eventKey, 6, k);
      expect(response.status).toBe(201);
      const stored = await t.db('idempotencyKeys').where({ idempotencyKey: k }).first();
      expect(stored).toMatchObject({
        responseStatus: 201,
        responseBody: response.text,
        lockToken: null,
      });
      expect(essence(await issue(t.url, event.eventKey, 6, k))).toEqual(essence(response));
    });
  });
});

describe('Idempotency-Key and server faults', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { DB_STATEMENT_TIMEOUT_MS: '300' } });
  });
  afterAll(() => t.close());

  it('does not store a 5xx, so the retry with the same key succeeds', async () => {
    const event = await createEvent(t.url);
    const k = key();
    // Another session holds the event row: issuance hits lock_timeout and answers 503.
    const blocker = await t.db.transaction();
    await blocker('events').where('eventKey', event.eventKey).forUpdate().select('id');
    const failed = await issue(t.url, event.eventKey, 1, k);
    await blocker.rollback();
    expect(failed.status).toBe(503);
    expect(failed.body).toEqual({
      statusCode: 503,
      message: '일시적으로 요청을 처리할 수 없습니다. 잠시 후 다시 시도해주세요.',
    });
    expect(failed.headers['retry-after']).toBeDefined();
    expect(await t.db('idempotencyKeys').where({ idempotencyKey: k })).toHaveLength(0);
    expect(await t.db('tickets').where({ userId: 1 })).toHaveLength(0);

    const retried = await issue(t.url, event.eventKey, 1, k);
    expect(retried.status).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(await t.db('tickets').where({ userId: 1 })).toHaveLength(1);
  });
});
