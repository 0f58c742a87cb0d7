import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory from 'knex';
import { buildKnexConfig } from '../src/database/knex-config';
import { startEmbeddedPostgres } from '../src/database/embedded-postgres';
import { freePort } from '../test/support/embedded-server';
import { answersPing, redisServerInstalled, spawnRedisServer } from '../test/support/redis-server';
import { TcpProxy } from '../test/support/tcp-proxy';

/** Undo steps, run newest first, whatever ended the run (success, failure, Ctrl-C). */
export class Cleanup {
  private readonly steps: Array<{ name: string; run: () => Promise<void> | void }> = [];
  private running?: Promise<void>;

  add(name: string, run: () => Promise<void> | void): void {
    this.steps.push({ name, run });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        // A step that hangs must not keep the others from running.
        await Promise.race([
          Promise.resolve()
            .then(step.run)
            .catch((error: unknown) =>
              process.stderr.write(`cleanup: ${step.name}: ${String(error)}\n`),
            ),
          sleep(20_000),
        ]);
      }
    })();
    return this.running;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Polls `check` until true; throws `what` after `timeoutMs`. */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await sleep(100);
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * The run's PostgreSQL, reached directly by the harness: an embedded server in the scratch folder, or a
 * fresh `<name>_chaos` database next to DATABASE_URL's (dropped and created again, never another name).
 */
export async function startDatabase(
  scratch: string,
  cleanup: Cleanup,
): Promise<{ url: string; describe: string }> {
  const given = process.env.DATABASE_URL;
  if (given) {
    const base = new URL(given).pathname.slice(1).replace(/_(test|chaos)$/, '');
    const name = `${base}_chaos`;
    const admin = knexFactory(
      buildKnexConfig({ url: withDatabase(given, 'postgres'), poolMin: 0 }),
    );
    try {
      await admin.raw(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.raw(`CREATE DATABASE "${name}"`);
    } finally {
      await admin.destroy();
    }
    return { url: withDatabase(given, name), describe: `database ${name} (DATABASE_URL's server)` };
  }
  const server = await startEmbeddedPostgres({
    dir: join(scratch, 'pg'),
    port: await freePort(),
    persistent: false,
    database: 'golden_ticket_chaos',
  });
  cleanup.add('embedded PostgreSQL', () => server.stop());
  return { url: server.url, describe: 'embedded PostgreSQL (its data folder goes with it)' };
}

/** The TCP proxy between every instance and PostgreSQL: the nemesis pauses or cuts it. */
export async function startDatabaseProxy(databaseUrl: string, cleanup: Cleanup): Promise<TcpProxy> {
  const target = new URL(databaseUrl);
  const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
  cleanup.add('database proxy', () => proxy.stop());
  return proxy;
}

/**
 * Redis for shared throttle budgets. With `redis-server` installed the run starts its own on a free port
 * (so stopping it harms nobody); otherwise a Redis already answering at REDIS_URL (127.0.0.1:6379 by
 * default) is used and never stopped.
 */
export class RedisServer {
  private child?: ChildProcess;

  private constructor(
    readonly url: string,
    readonly port: number,
    readonly owned: boolean,
  ) {}

  static async start(cleanup: Cleanup): Promise<RedisServer | undefined> {
    if (redisServerInstalled()) {
      const port = await freePort();
      const redis = new RedisServer(`redis://127.0.0.1:${port}`, port, true);
      cleanup.add('redis-server', () => redis.stop());
      await redis.resume();
      return redis;
    }
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const port = Number(new URL(url).port || 6379);
    if (await answersPing(port)) return new RedisServer(url, port, false);
    return undefined;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async resume(): Promise<void> {
    if (!this.owned || this.child) return;
    const child = await spawnRedisServer(this.port, 10_000);
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/** libfaketime's preload library, when the Debian package (or FAKETIME_LIB) provides it. */
export function findFaketime(): string | undefined {
  const candidates = [
    process.env.FAKETIME_LIB,
    '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
    '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
    '/usr/lib/faketime/libfaketime.so.1',
    '/usr/local/lib/faketime/libfaketime.so.1',
  ];
  return candidates.find((path): path is string => path !== undefined && existsSync(path));
}

/**
 * One instance of the service: `node dist/src/main.js` (with WORKERS, a primary and its workers) in a
 * process group of its own, so kill -9 takes the whole instance and cleanup leaves nothing behind. Its
 * port stays the same across restarts, as a replica's address does behind a balancer.
 */
export class Instance {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  starts = 0;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly mainJs: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly logFile: string,
  ) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  /**
   * Starts the instance and waits until it is ready. A start that fails (the database cut at that moment
   * stops it at once) is tried again, as an orchestrator restarts a crashed replica, for up to a minute.
   */
  async start(): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!this.child) {
      const child = this.spawn();
      const ready = await waitFor(
        async () =>
          this.child !== child || (await fetch(`http://127.0.0.1:${this.port}/health/ready`)).ok,
        Math.max(0, deadline - Date.now()),
        () => `${this.name} did not become ready (see ${this.logFile})`,
      ).then(() => this.child === child);
      if (ready) return;
      if (Date.now() > deadline)
        throw new Error(`${this.name} kept exiting at start (see ${this.logFile})`);
      await sleep(1_000);
    }
  }

  private spawn(): ChildProcess {
    this.starts += 1;
    const log = createWriteStream(this.logFile, { flags: 'a' });
    log.write(`--- start ${this.starts} at ${new Date().toISOString()}\n`);
    const child = spawn(process.execPath, [this.mainJs], {
      env: { ...process.env, ...this.env, PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        if (this.child === child) this.child = undefined;
        log.end();
        resolve();
      }),
    );
    return child;
  }

  /** The whole instance at once, no drain. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    killGroup(child.pid, 'SIGKILL');
    await this.exited;
  }

  /** SIGTERM to the instance's main process, as an orchestrator sends it; then waits for the drain. */
  async sigterm(boundMs = 20_000): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    child.kill('SIGTERM');
    await Promise.race([this.exited, sleep(boundMs)]);
    // Anything left of the group past the bound (a worker that outlived its primary) goes too.
    killGroup(child.pid, 'SIGKILL');
    await this.exited;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}
