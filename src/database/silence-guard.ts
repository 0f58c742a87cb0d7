import type { Knex } from 'knex';
import type { Client as PgConnection } from 'pg';

/** What this module needs of knex's PostgreSQL dialect (the dialect classes have no published types). */
interface KnexPgDialect {
  _query(connection: PgConnection, query: unknown): Promise<unknown>;
  acquireRawConnection(): Promise<PgConnection>;
  validateConnection(connection: PgConnection): Promise<boolean>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports -- knex's dialect class, for extension
const KnexPgClient = require('knex/lib/dialects/postgres') as new (
  config: Knex.Config,
) => Knex.Client & KnexPgDialect;

/** The code of DatabaseSilentError, which pg-errors.ts counts as the database being unavailable. */
export const DATABASE_SILENT = 'EDBSILENT';

/** PostgreSQL did not answer a query within DB_QUERY_TIMEOUT_MS: its connection was destroyed. */
class DatabaseSilentError extends Error {
  readonly code = DATABASE_SILENT;

  constructor(timeoutMs: number) {
    super(`PostgreSQL did not answer within ${timeoutMs} ms; the connection was destroyed`);
  }
}

/**
 * knex's PostgreSQL client with a client-side deadline on every query. statement_timeout is enforced by the
 * server, so a server that stops answering without closing the connection (a partition, a hung primary, a
 * failover) would hold the query — and the event's issuance queue behind it — for as long as the silence
 * lasts. Past the deadline the connection is ended (pg destroys the socket of a connection with a query in
 * flight) and the query fails as unavailable (503) — and so does anything sent on it afterwards (knex's
 * ROLLBACK). The idle connections opened before that moment are suspect too (after a failover they all
 * lead to the old server): the pool drops them instead of handing them out, so the next query gets a fresh
 * connection, which works as soon as the server answers again.
 */
export function silenceGuardedPgClient(queryTimeoutMs: number): typeof Knex.Client {
  // State of this knex instance, kept here rather than on the client: knex's transaction clients are
  // copies of the client's prototype without its instance fields.
  const silenced = new WeakSet<PgConnection>();
  const openedAt = new WeakMap<PgConnection, number>();
  let lastSilenceAt = -1;

  class SilenceGuardedPgClient extends KnexPgClient {
    override async _query(connection: PgConnection, query: unknown): Promise<unknown> {
      if (silenced.has(connection)) throw new DatabaseSilentError(queryTimeoutMs);
      const deadline = setTimeout(() => {
        silenced.add(connection);
        lastSilenceAt = performance.now();
        connection.end().catch(() => undefined);
      }, queryTimeoutMs);
      try {
        return await super._query(connection, query);
      } catch (error) {
        throw silenced.has(connection) ? new DatabaseSilentError(queryTimeoutMs) : error;
      } finally {
        clearTimeout(deadline);
      }
    }

    override async acquireRawConnection(): Promise<PgConnection> {
      const connection = (await super.acquireRawConnection()) as PgConnection;
      openedAt.set(connection, performance.now());
      return connection;
    }

    /** Called by the pool before it hands out an idle connection. */
    override validateConnection(connection: PgConnection): Promise<boolean> {
      return Promise.resolve((openedAt.get(connection) ?? 0) > lastSilenceAt);
    }
  }
  return SilenceGuardedPgClient as unknown as typeof Knex.Client;
}
