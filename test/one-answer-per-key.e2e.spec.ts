import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { IdempotencyKeyReusedError } from '../src/common/errors/domain-errors';
import { IdempotencyPurger } from '../src/idempotency/idempotency-purger';
import { fingerprintOf } from '../src/idempotency/idempotency-rules';
import { TicketIssuanceService } from '../src/tickets/ticket-issuance.service';
import { FinalRefusals } from '../src/tickets/final-refusals';
import { OPEN_NOW, createEvent, issue } from './support/fixtures';
import { ServiceProcess, startService, waitUntil, waitUntilReady } from './support/service-process';
import { startTestApp, TestApp } from './support/test-app';
import { createTestDatabase } from './support/test-database';

const SOLD_OUT = { statusCode: 409, message: '티켓이 모두 소진되었습니다.' };
const CAPPED = {
  statusCode: 409,
  message: '오늘의 발급 한도에 도달했습니다. 내일 다시 시도해주세요.',
};
const SWITCHED_OFF = { statusCode: 400, message: '현재 발급이 중단된 이벤트입니다.' };

/**
 * One answer per Idempotency-Key, whichever instance a retransmission reaches and whenever: an answer given
 * from memory leaves the process only once its record is committed, and what a process remembers of a key
 * expires with the record. Each case is one a reviewer reproduced against the write-behind that came before.
 */
describe('one answer per Idempotency-Key', () => {
  describe('production build, two processes on one database', () => {
    let database: Awaited<ReturnType<typeof createTestDatabase>>;
    const services: ServiceProcess[] = [];
    const start = async (env: Record<string, string> = {}) => {
      const service = await startService({ DATABASE_URL: database.url, ...env });
      services.push(service);
      await waitUntilReady(service);
      return service;
    };
    /** Resolves once `service` logged that it answers `eventKey` from memory. */
    const settled = (service: ServiceProcess, eventKey: string) =>
      waitUntil(
        () =>
          Promise.resolve(
            service
              .logs()
              .some((entry) => entry.eventKey === eventKey && typeof entry.holders === 'number'),
          ),
        10_000,
        () => `${eventKey} not settled on ${service.url}`,
      );
    const soldOutEvent = async (via: ServiceProcess) => {
      const event = await createEvent(via.url, { ...OPEN_NOW, totalQuantity: 1 });
      await issue(via.url, event.eventKey, 1).expect(201);
      await issue(via.url, event.eventKey, 2).expect(409);
      await settled(via, event.eventKey);
      return event;
    };
    const switchOff = (via: ServiceProcess, eventKey: string) =>
      request(via.url).patch(`/events/${eventKey}`).send({ isActive: false }).expect(200);

    beforeAll(async () => {
      database = await createTestDatabase();
    });
    afterAll(async () => {
      await Promise.all(services.map((service) => service.stop()));
      await database.drop();
    });

    it('a stored 409 stays the answer after a switch-off, on an instance that has the event settled', async () => {
      const [a, b] = [await start(), await start()];
      const event = await soldOutEvent(a);
      const key = randomUUID();
      const first = await issue(a.url, event.eventKey, 7, key).expect(409);
      expect(first.body).toEqual(SOLD_OUT);

      await issue(b.url, event.eventKey, 3).expect(409);
      await settled(b, event.eventKey);
      await switchOff(a, event.eventKey);
      // B re-reads the flag within a second: a user without a key is now told "switched off".
      await waitUntil(
        async () => (await issue(b.url, event.eventKey, 4)).status === 400,
        10_000,
        () => 'B never saw the switch-off',
      );
      expect((await issue(b.url, event.eventKey, 4)).body).toEqual(SWITCHED_OFF);

      const again = await issue(b.url, event.eventKey, 7, key).expect(409);
      expect(again.text).toBe(first.text);
      expect(again.headers['idempotent-replayed']).toBe('true');
    });

    it('keyed answers given while draining are committed: another instance replays them after a switch-off', async () => {
      const a = await start({ SHUTDOWN_READINESS_DELAY_MS: '3000' });
      const b = await start();
      const event = await soldOutEvent(a);
      void a.child.kill('SIGTERM');
      await waitUntil(
        async () => (await fetch(`${a.url}/health/ready`)).status === 503,
        10_000,
        () => 'A never turned unready',
      );
      const keys = Array.from({ length: 10 }, () => randomUUID());
      const during = await Promise.all(
        keys.map((key, i) => issue(a.url, event.eventKey, 100 + i, key)),
      );
      expect(during.map((answer) => answer.status)).toEqual(keys.map(() => 409));
      expect(await a.exited).toBe(0);

      await switchOff(b, event.eventKey);
      expect((await issue(b.url, event.eventKey, 99)).body).toEqual(SWITCHED_OFF);
      for (const [i, key] of keys.entries()) {
        const again = await issue(b.url, event.eventKey, 100 + i, key).expect(409);
        expect(again.text).toBe(during[i].text);
        expect(again.headers['idempotent-replayed']).toBe('true');
      }
    });
  });

  describe('in-process, hand-moved clocks', () => {
    let a: TestApp;
    let b: TestApp;

    beforeAll(async () => {
      const env = { IDEMPOTENCY_TTL_SECONDS: '60' };
      a = await startTestApp({ env, now: '2026-03-10T03:00:00Z' });
      b = await startTestApp({ env, databaseUrl: a.databaseUrl, now: '2026-03-10T03:00:00Z' });
    });
    afterAll(async () => {
      await b.close();
      await a.close();
    });
    const setClocks = (iso: string) => {
      a.clock.set(iso);
      b.clock.set(iso);
    };

    it("a keyed cap refusal just before 00:00 KST is the key's answer just after", async () => {
      setClocks('2026-03-10T14:59:59.800Z'); // 23:59:59.8 KST
      const event = await createEvent(a.url, { totalQuantity: 10, dailyLimit: 1 });
      await issue(a.url, event.eventKey, 1).expect(201);
      await issue(a.url, event.eventKey, 2).expect(409);
      await waitUntil(
        () => Promise.resolve(a.app.get(FinalRefusals).size >= 1),
        5_000,
        () => 'not settled',
      );
      const key = randomUUID();
      const before = await issue(a.url, event.eventKey, 7, key).expect(409);
      expect(before.body).toEqual(CAPPED);

      setClocks('2026-03-10T15:00:00.100Z'); // 00:00:00.1 KST, the next day
      for (const via of [a, b]) {
        const after = await issue(via.url, event.eventKey, 7, key).expect(409);
        expect(after.text).toBe(before.text);
        expect(after.headers['idempotent-replayed']).toBe('true');
      }
      // The new day is open to everyone else.
      await issue(a.url, event.eventKey, 8).expect(201);
      expect(await a.db('tickets').where({ userId: 7 })).toEqual([]);
    });

    // Found by the chaos checker (seed 107): a key's owner queued in one batch behind another body under
    // the same key was told 422 instead of its stored answer.
    it("in one batch, another body under a stored key gets 422 and the key's own request its answer, even behind it", async () => {
      setClocks('2026-03-10T03:00:00Z');
      const event = await createEvent(a.url);
      const key = randomUUID();
      const owner = await issue(a.url, event.eventKey, 11, key).expect(201);
      // B has never seen the key: both go to one batch (submitted in the same turn of the event loop).
      const issuance = b.app.get(TicketIssuanceService);
      const fingerprint = (userId: number) =>
        fingerprintOf(
          'POST',
          '/events/:eventKey/tickets',
          { eventKey: event.eventKey },
          { userId },
        );
      const ask = (userId: number) =>
        issuance.issue(event.eventKey, {
          userId,
          idempotent: { key, fingerprint: fingerprint(userId) },
        });
      const [other, own] = await Promise.all([ask(12), ask(11)]);
      expect(other.answer).toMatchObject({
        kind: 'refused',
        error: expect.any(IdempotencyKeyReusedError),
      });
      expect(own.answer).toEqual({
        kind: 'replay',
        response: expect.objectContaining({ body: owner.text }),
      });
      expect(await a.db('tickets').where({ userId: 12 })).toEqual([]);
    });

    it('what an instance remembers of a key expires with its record, not later', async () => {
      setClocks('2026-03-10T03:00:00Z');
      const event = await createEvent(a.url);
      const key = randomUUID();
      const first = await issue(a.url, event.eventKey, 5, key).expect(201);
      // B replays it late in its life, and so remembers it.
      setClocks('2026-03-10T03:00:50Z');
      const replayed = await issue(b.url, event.eventKey, 5, key).expect(201);
      expect(replayed.text).toBe(first.text);
      expect(replayed.headers['idempotent-replayed']).toBe('true');

      // Expired and purged: the key is free for a new request, on every instance alike.
      setClocks('2026-03-10T03:01:01Z');
      expect(await a.app.get(IdempotencyPurger).purgeExpired()).toBeGreaterThanOrEqual(1);
      const reused = await issue(a.url, event.eventKey, 6, key).expect(201);
      expect(reused.headers['idempotent-replayed']).toBeUndefined();
      const onB = await issue(b.url, event.eventKey, 6, key).expect(201);
      expect(onB.text).toBe(reused.text);
      expect(onB.headers['idempotent-replayed']).toBe('true');
    });
  });
});
