import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Client as PgConnection } from 'pg';

/**
 * A PostgreSQL advisory lock key: two int4, a namespace of this service and an object in it, so the locks
 * of other applications on the same database never collide with these.
 */
export interface AdvisoryLockKey {
  namespace: number;
  object: number;
}

/** Namespaces of this service's advisory locks (arbitrary constants, fixed forever). */
const NAMESPACES = {
  migrations: 0x4754_0001,
  issuance: 0x4754_0002,
} as const;

/** The one lock every instance takes around the whole migrate step. */
export const MIGRATIONS_LOCK: AdvisoryLockKey = { namespace: NAMESPACES.migrations, object: 0 };

/**
 * The lock that orders the issuance batches of one event across instances. Two events may share an object
 * number (a 32-bit hash of the key): they then merely queue together.
 */
export function issuanceLock(eventKey: string): AdvisoryLockKey {
  return {
    namespace: NAMESPACES.issuance,
    object: createHash('sha256').update(eventKey).digest().readInt32BE(0),
  };
}

/**
 * Runs `work` on one pooled connection that holds the session-level advisory lock `key` for its whole
 * run: taken before `work` starts (so a transaction `work` begins takes its snapshot after the previous
 * holder committed), released after it ends. The wait for the lock is bounded by the connection's
 * lock_timeout (a 503 past it, never a hang). A connection whose unlock failed is ended rather than
 * returned to the pool still holding the lock.
 */
export async function withAdvisoryLock<T>(
  knex: Knex,
  key: AdvisoryLockKey,
  work: (connection: PgConnection) => Promise<T>,
): Promise<T> {
  const pool = knex.client as PooledClient;
  const connection = await pool.acquireConnection();
  try {
    await knex
      .raw('SELECT pg_advisory_lock(?, ?)', [key.namespace, key.object])
      .connection(connection);
    try {
      return await work(connection);
    } finally {
      await knex
        .raw('SELECT pg_advisory_unlock(?, ?)', [key.namespace, key.object])
        .connection(connection)
        .catch(async () => connection.end().catch(() => undefined));
    }
  } finally {
    await pool.releaseConnection(connection);
  }
}

/** knex's client, as far as handing out one of its pooled connections goes. */
interface PooledClient {
  acquireConnection(): Promise<PgConnection>;
  releaseConnection(connection: PgConnection): Promise<void>;
}
