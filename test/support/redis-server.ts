import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './embedded-server';

/** Whether `redis-server` is on the PATH. */
export function redisServerInstalled(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A redis-server of our own (Debian's redis-server, as .ci/run requires) on `port` of 127.0.0.1, never the
 * shared 6379, keeping nothing on disk, once it answers PING; it ends with the process that owns it (SIGKILL
 * it to stop it). Shared by the suite (global-setup.ts), a test's own (startRedisServer) and the chaos run
 * (chaos/system.ts).
 */
export async function spawnRedisServer(port: number, timeoutMs: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let gone = false;
  child.once('exit', () => (gone = true));
  child.once('error', (error) => {
    output += error.message;
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (!(await answersPing(port))) {
    if (gone || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer on 127.0.0.1:${port}: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // What it writes from now on is not read: it must not fill the pipe.
  child.stdout.resume();
  child.stderr.resume();
  return child;
}

/** Whether a Redis answers PING on the port of 127.0.0.1. */
export function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.setTimeout(1_000, () => socket.destroy());
    socket.once('data', (data) => {
      resolve(data.toString().startsWith('+PONG'));
      socket.destroy();
    });
    socket.once('close', () => resolve(false));
    socket.once('error', () => resolve(false));
  });
}

export interface RedisServer {
  url: string;
  /** The server's process, for a test that pauses it (SIGSTOP / SIGCONT). */
  process: ChildProcess;
  /** SIGTERM; resolves once it has exited. */
  stop(): Promise<void>;
  /** SIGKILL (Redis gone at once, as in a crash); resolves once it has exited. */
  kill(): Promise<void>;
}

/** A redis-server of the test's own on a free loopback port. */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const child = await spawnRedisServer(port, 10_000);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    process: child,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
  };
}

/**
 * For a test that shares budgets through Redis and never silences it: one command slower than
 * THROTTLE_REDIS_TIMEOUT_MS (250 ms by default: an instance's event loop held that long on a busy machine)
 * makes an instance count on its own until Redis answers a PING, and the test sees per-instance budgets.
 * Redis going away is redis-outage.e2e's to test.
 */
export const PATIENT_REDIS = { THROTTLE_REDIS_TIMEOUT_MS: '30000' };

const URL_VARIABLE = 'TEST_REDIS_URL';

/** The suite's Redis, started by the global setup (none when redis-server is missing). */
export function publishSuiteRedis(url: string | undefined): void {
  if (url) process.env[URL_VARIABLE] = url;
  else delete process.env[URL_VARIABLE];
}

/**
 * The URL of the suite's own Redis (a redis-server on a free port, started by the global setup), for the
 * tests that share throttle budgets through Redis. Without redis-server they fail here, saying so: they
 * never fall back to a Redis of the machine's.
 */
export function suiteRedisUrl(): string {
  const url = process.env[URL_VARIABLE];
  if (!url) {
    throw new Error(
      'redis-server is not installed, so the suite has no Redis of its own: this test shares throttle ' +
        'budgets through Redis and cannot run without it (Debian: apt-get install redis-server)',
    );
  }
  return url;
}
