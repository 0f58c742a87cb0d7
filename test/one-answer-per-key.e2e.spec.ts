import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { IdempotencyKeyReusedError } from '../src/common/errors/domain-errors';
import { IdempotencyPurger } from '../src/idempotency/idempotency-purger';
import { fingerprintOf } from '../src/idempotency/idempotency-rules';
import { TicketIssuanceService } from '../src/tickets/ticket-issuance.service';
import { FinalRefusals } from '../src/tickets/final-refusals';
import { OPEN_NOW, createEvent, issue } from './support/fixtures';
import { JsonAnswer, JsonPost, sendOnOpenConnections } from './support/http-client';
import { servicesOnFreshDatabase } from './support/service-fixture';
import { STUCK_AFTER_MS, ServiceProcess, waitUntil } from './support/service-process';
import { startTestApp, TestApp } from './support/test-app';
import { connect } from './support/test-database';

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
    const services = servicesOnFreshDatabase();
    /** Resolves once `service` logged that it answers `eventKey` from memory. */
    const settled = (service: ServiceProcess, eventKey: string) =>
      waitUntil(
        () =>
          Promise.resolve(
            service
              .logs()
              .some((entry) => entry.eventKey === eventKey && typeof entry.holders === 'number'),
          ),
        STUCK_AFTER_MS,
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

    it('a stored 409 stays the answer after a switch-off, on an instance that has the event settled', async () => {
      const [a, b] = await Promise.all([services.start(), services.start()]);
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
        STUCK_AFTER_MS,
        () => 'B never saw the switch-off',
      );
      expect((await issue(b.url, event.eventKey, 4)).body).toEqual(SWITCHED_OFF);

      const again = await issue(b.url, event.eventKey, 7, key).expect(409);
      expect(again.text).toBe(first.text);
      expect(again.headers['idempotent-replayed']).toBe('true');
    });

    it('keyed answers given while draining are committed: another instance replays them after a switch-off', async () => {
      const [a, b] = await Promise.all([
        services.start({ SHUTDOWN_READINESS_DELAY_MS: '3000' }),
        services.start(),
      ]);
      const event = await soldOutEvent(a);
      void a.child.kill('SIGTERM');
      await waitUntil(
        async () => (await fetch(`${a.url}/health/ready`)).status === 503,
        STUCK_AFTER_MS,
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

    /**
     * The bench's two-instance storm once answered 27 keyed requests 500 "deadlock detected": two group
     * commits (or a group commit and an issuance batch) wrote the same keys in the orders their requests
     * came. Here the orders are forced with row locks the test holds: B's group writes c, then waits on y;
     * A's group writes a, then waits on B for c; once y is free, B goes on to a — held by A.
     */
    it('keyed refusals committed on two instances at once, keys in opposite orders: no deadlock, one answer each', async () => {
      const [a, b] = await Promise.all([services.start(), services.start()]);
      const event = await soldOutEvent(a);
      await issue(b.url, event.eventKey, 3).expect(409);
      await settled(b, event.eventKey);
      const run = randomUUID();
      const keyOf = (name: string) => `${run}-${name}`;
      const post = (name: string, userId: number): JsonPost => ({
        path: `/events/${event.eventKey}/tickets`,
        body: { userId },
        headers: { 'idempotency-key': keyOf(name) },
      });
      const db = connect(services.databaseUrl);
      const holders = {
        x: await db.transaction(),
        y: await db.transaction(),
        z: await db.transaction(),
      };
      try {
        for (const [name, holder] of Object.entries(holders)) {
          await holder.raw(
            `INSERT INTO idempotency_keys (idempotency_key, method, path, request_hash, lock_token,
               locked_at, created_at, expires_at)
             VALUES (?, 'POST', '/held', repeat('0', 64), gen_random_uuid(), now(), now(), now() + interval '1 hour')`,
            [keyOf(name)],
          );
        }
        const pids = Object.fromEntries(
          await Promise.all(
            Object.entries(holders).map(async ([name, holder]) => {
              const { rows } = await holder.raw<{ rows: Array<{ pid: number }> }>(
                'SELECT pg_backend_pid() AS pid',
              );
              return [name, rows[0].pid] as const;
            }),
          ),
        );
        /** Waits until `depth` statements wait in a chain on the holder of `name`'s key (1: on it directly). */
        const blockedBy = (name: string, depth: 1 | 2) =>
          waitUntil(
            async () => {
              const { rows } = await db.raw<{ rows: unknown[] }>(
                depth === 1
                  ? 'SELECT 1 FROM pg_stat_activity w WHERE ?::int = ANY(pg_blocking_pids(w.pid))'
                  : `SELECT 1 FROM pg_stat_activity w, pg_stat_activity h
                      WHERE h.pid = ANY(pg_blocking_pids(w.pid)) AND ?::int = ANY(pg_blocking_pids(h.pid))`,
                [pids[name]],
              );
              return rows.length > 0;
            },
            STUCK_AFTER_MS,
            () => `no statement waits on ${name} (${depth})`,
          );
        // Each service's lane is busy with a group stuck on a held key; what comes meanwhile is its next
        // group, in the order it came (each request seen before the next is sent).
        const inOrder = async (service: ServiceProcess, posts: JsonPost[]) => {
          const answers: Array<Promise<JsonAnswer[]>> = [];
          for (const one of posts) {
            answers.push((await sendOnOpenConnections(service.url, [one]))());
            await request(service.url).get('/health/live').expect(200);
          }
          return answers;
        };
        const onB = await inOrder(b, [post('x', 10)]);
        const onA = await inOrder(a, [post('z', 20)]);
        await Promise.all([blockedBy('x', 1), blockedBy('z', 1)]);
        onB.push(...(await inOrder(b, [post('c', 12), post('y', 11), post('a', 13)])));
        onA.push(...(await inOrder(a, [post('a', 13), post('c', 12)])));
        // B's next group (c, y, a) starts: it writes c and waits on y.
        await holders.x.rollback();
        await blockedBy('y', 1);
        // A's next group (a, c) starts: it writes a and waits on B for c.
        await holders.z.rollback();
        await blockedBy('y', 2);
        // B goes on to a, which A holds: a deadlock, unless both wrote their keys in one order.
        await holders.y.rollback();
        const answers = (await Promise.all([...onA, ...onB])).flat();

        expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 409));
        for (const answer of answers) expect(answer.body).toEqual(SOLD_OUT);
        const stored = await db('idempotencyKeys')
          .whereIn('idempotencyKey', ['a', 'c', 'x', 'y', 'z'].map(keyOf))
          .select('responseStatus');
        expect(stored.map((row: { responseStatus: number }) => row.responseStatus)).toEqual(
          [1, 2, 3, 4, 5].map(() => 409),
        );
        const errors = [a, b].flatMap((service) =>
          service.logs().filter((entry) => Number(entry.level) >= 50),
        );
        expect(errors).toEqual([]);
      } finally {
        await Promise.all(
          Object.values(holders).map((holder) => holder.rollback().catch(() => undefined)),
        );
        await db.destroy();
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
        STUCK_AFTER_MS,
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
