import type { Knex } from 'knex';
import type { Client as PgConnection } from 'pg';

/** What this module needs of knex's PostgreSQL dialect (the dialect classes have no published types). */
interface KnexPgDialect {
  _query(connection: PgConnection, query: unknown): Promise<unknown>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports -- knex's dialect class, for extension
const KnexPgClient = require('knex/lib/dialects/postgres') as new (
  config: Knex.Config,
) => Knex.Client & KnexPgDialect;

/** PostgreSQL did not answer a query within DB_QUERY_TIMEOUT_MS: its connection was destroyed. */
export class DatabaseSilentError extends Error {
  readonly code = 'EDBSILENT';

  constructor(timeoutMs: number) {
    super(`PostgreSQL did not answer within ${timeoutMs} ms; the connection was destroyed`);
  }
}

/**
 * knex's PostgreSQL client with a client-side deadline on every query. statement_timeout is enforced by the
 * server, so a server that stops answering without closing the connection (a partition, a hung primary, a
 * failover) would hold the query — and the event's issuance queue behind it — for as long as the silence
 * lasts. Past the deadline the connection is ended (pg destroys the socket of a connection with a query in
 * flight), the query fails as unavailable (503), the pool drops the connection, and the next query gets a
 * fresh one, which works as soon as the server answers again.
 */
export function silenceGuardedPgClient(queryTimeoutMs: number): typeof Knex.Client {
  class SilenceGuardedPgClient extends KnexPgClient {
    override async _query(connection: PgConnection, query: unknown): Promise<unknown> {
      let silent = false;
      const deadline = setTimeout(() => {
        silent = true;
        connection.end().catch(() => undefined);
      }, queryTimeoutMs);
      try {
        return await super._query(connection, query);
      } catch (error) {
        throw silent ? new DatabaseSilentError(queryTimeoutMs) : error;
      } finally {
        clearTimeout(deadline);
      }
    }
  }
  return SilenceGuardedPgClient as unknown as typeof Knex.Client;
}
