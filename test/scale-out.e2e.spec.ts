import { MIGRATION_NAMES } from '../migrations';
import { randomUUID } from 'node:crypto';
import { OPEN_NOW } from './support/fixtures';
import { PATIENT_REDIS, suiteRedisUrl } from './support/redis-server';
import { servicesOnFreshDatabase } from './support/service-fixture';
import { ServiceProcess, waitUntilReady } from './support/service-process';
import { connect } from './support/test-database';

const INSTANCES = 3;
const TICKETS = 300;
const USERS = 1_500;
const IN_FLIGHT = 150;
/** Issuance requests per userId per minute: the storm's users send two at most. */
const USER_LIMIT = 3;

interface Sent {
  userId: number;
  key: string;
  instance: number;
  status: number;
  ticketId?: string;
}

/**
 * Several instances of the production build on one PostgreSQL, as a load balancer spreads users over them:
 * started together on an empty database, then a storm with retransmissions that land on another instance.
 */
describe('scale out: three instances on one database', () => {
  const services = servicesOnFreshDatabase({ migrated: false });
  let instances: ServiceProcess[];

  beforeAll(async () => {
    const env = {
      DB_POOL_MAX: '10',
      // The suite's own Redis: the instances spend one budget.
      REDIS_URL: suiteRedisUrl(),
      ...PATIENT_REDIS,
      THROTTLE_KEY_PREFIX: `scale-${randomUUID()}`,
      THROTTLE_USER_LIMIT: String(USER_LIMIT),
      THROTTLE_USER_TTL_MS: '60000',
    };
    // Live, not yet ready: the first test watches them get ready.
    instances = await Promise.all(
      Array.from({ length: INSTANCES }, () => services.start(env, { ready: false })),
    );
  });

  it('starts together on an empty database: all ready, migrations applied once', async () => {
    await Promise.all(instances.map((instance) => waitUntilReady(instance)));
    const migrated = instances.filter((instance) =>
      instance.logs().some((entry) => String(entry.msg).startsWith('applied migrations')),
    );
    expect(migrated).toHaveLength(1);
    const db = connect(services.databaseUrl);
    try {
      const applied = await db('knex_migrations').select('name');
      expect(applied.map((row: { name: string }) => row.name)).toEqual(MIGRATION_NAMES);
    } finally {
      await db.destroy();
    }
  });

  it('survives a storm spread over all three, retransmissions crossing instances: no 5xx, every invariant', async () => {
    const created = await fetch(`${instances[0].url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        eventKey: `scale-${randomUUID()}`,
        name: '스케일 아웃',
        totalQuantity: TICKETS,
        ...OPEN_NOW,
      }),
    });
    expect(created.status).toBe(201);
    const { eventKey } = (await created.json()) as { eventKey: string };

    // Every user once on a random instance; a quarter again, same key, on another instance.
    const plan: Array<Omit<Sent, 'status'>> = [];
    for (let userId = 1; userId <= USERS; userId++) {
      const instance = userId % INSTANCES;
      const key = randomUUID();
      plan.push({ userId, key, instance });
      if (userId % 4 === 0) plan.push({ userId, key, instance: (instance + 1) % INSTANCES });
    }
    const sent: Sent[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < plan.length) {
          const request = plan[next++];
          const response = await fetch(
            `${instances[request.instance].url}/events/${eventKey}/tickets`,
            {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'idempotency-key': request.key },
              body: JSON.stringify({ userId: request.userId }),
            },
          );
          const body = (await response.json()) as { ticketId?: string };
          sent.push({ ...request, status: response.status, ticketId: body.ticketId });
        }
      }),
    );

    // 201 issued (or its replay), 409 sold out (or its replay): never a 5xx.
    expect(sent).toHaveLength(plan.length);
    expect(sent.filter((s) => s.status !== 201 && s.status !== 409)).toEqual([]);

    const db = connect(services.databaseUrl);
    try {
      const tickets: Array<{ userId: number; id: string }> = await db('tickets')
        .join('events', 'events.id', 'tickets.eventId')
        .where('events.eventKey', eventKey)
        .select('tickets.userId', 'tickets.id');
      expect(tickets).toHaveLength(TICKETS);
      const ticketOf = new Map(tickets.map((t) => [t.userId, t.id]));
      expect(ticketOf.size).toBe(TICKETS);
      // Every ticket reached its user, and every answer with a ticket names the user's one ticket.
      const answered = sent.filter((s) => s.ticketId !== undefined);
      for (const userId of ticketOf.keys()) {
        expect(answered.some((s) => s.userId === userId)).toBe(true);
      }
      for (const s of answered) expect(s.ticketId).toBe(ticketOf.get(s.userId));
      // A retransmission on another instance got the same answer as its original.
      const byKey = new Map<string, Sent[]>();
      for (const s of sent) byKey.set(s.key, [...(byKey.get(s.key) ?? []), s]);
      for (const copies of byKey.values()) {
        expect(new Set(copies.map((c) => `${c.status}:${c.ticketId}`)).size).toBe(1);
      }
      const event = await db('events').where({ eventKey }).first();
      expect(event.issuedCount).toBe(TICKETS);
      expect(await db('idempotencyKeys').whereNull('responseStatus')).toEqual([]);
    } finally {
      await db.destroy();
    }
  });

  it('spends one per-user budget across the three instances (Redis)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 2 * INSTANCES; i++) {
      const response = await fetch(`${instances[i % INSTANCES].url}/events/nowhere/tickets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 999_999 }),
      });
      statuses.push(response.status);
    }
    expect(statuses).toEqual([404, 404, 404, 429, 429, 429]);
  });

  it('ordered the instances\u2019 batches instead of letting them abort each other', async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    const totals = instances.map(
      (instance) =>
        instance.logs().find((entry) => entry.issuanceTotals)?.issuanceTotals as {
          batches: number;
          retries: number;
        },
    );
    const batches = totals.reduce((sum, t) => sum + t.batches, 0);
    const retries = totals.reduce((sum, t) => sum + t.retries, 0);
    expect(batches).toBeGreaterThan(INSTANCES);
    // Under the per-event lock a retry needs something the lock does not order (rare).
    expect(retries).toBeLessThanOrEqual(Math.ceil(batches * 0.05));
  });
});
