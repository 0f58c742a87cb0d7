import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './embedded-server';
import { keepDocument, observe } from './openapi-coverage';

/** The production build's entry point (built by the global setup). */
export const MAIN_JS = join(__dirname, '..', '..', 'dist', 'src', 'main.js');

/**
 * How long a wait for a process (a start, readiness, a worker, a log line) goes on before the process counts
 * as stuck. Generous on purpose, not a measure of speed: a start takes 1–3 s on an idle machine and 10–30 s
 * beside two busy loops with other services starting; a wait that ends sooner returns at once, and a
 * process that exits ends it at once too. Jest's testTimeout (jest.config.js) is longer still.
 */
export const STUCK_AFTER_MS = 120_000;

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** Every line the process wrote to stdout, as it came. */
  lines: string[];
  /** The JSON log entries so far. */
  logs(): Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * The tests are the clients, and on a busy machine a test's client may connect and send its request
 * seconds later: Node counts the headers timeout from the connection, so the production 5 s gave storms
 * (scale-out, concurrency) a 408 or two beside busy loops. Slow clients are slow-clients.e2e's to test,
 * with the production settings it sets itself.
 */
export const TEST_CLIENT_TIMEOUTS = {
  HTTP_HEADERS_TIMEOUT_MS: String(STUCK_AFTER_MS),
  HTTP_REQUEST_TIMEOUT_MS: String(STUCK_AFTER_MS),
};

/**
 * The service as operators run it — `node dist/src/main.js` in a process of its own, JSON logs on stdout —
 * with test-friendly defaults under `env`. Resolves once it answers /health/live (not ready: some tests
 * want to see it become ready). `ownProcessGroup`: it leads a process group, as a command in a terminal
 * does (a Ctrl-C signals the whole group: `process.kill(-pid, 'SIGINT')`). `testDefaults: false`: its
 * environment is `env` alone (with PORT), nothing of this process's and none of the defaults, as a
 * container's is what its image and compose file give it.
 */
export async function startService(
  env: Record<string, string>,
  { ownProcessGroup = false, testDefaults = true } = {},
): Promise<ServiceProcess> {
  const port = env.PORT ?? String(await freePort());
  const child = spawn(process.execPath, [MAIN_JS], {
    detached: ownProcessGroup,
    env: testDefaults
      ? {
          ...process.env,
          NODE_ENV: 'production',
          // The tests are the gateway: they create events without a token.
          ADMIN_AUTH: 'disabled',
          LOG_LEVEL: 'info',
          HOST: '127.0.0.1',
          PORT: port,
          THROTTLE_IP_LIMIT: '1000000',
          THROTTLE_USER_LIMIT: '1000000',
          SHUTDOWN_READINESS_DELAY_MS: '0',
          ...TEST_CLIENT_TIMEOUTS,
          ...env,
        }
      : { ...env, PORT: port },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  createInterface({ input: child.stderr }).on('line', (line) => lines.push(line));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const service: ServiceProcess = {
    url,
    child,
    lines,
    logs: () =>
      lines.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    exited,
    stop: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  // What the process answered, from its request log lines, for the OpenAPI completeness check.
  child.once('close', () => {
    for (const { method, route, statusCode } of service.logs()) {
      if (typeof method === 'string' && typeof route === 'string') {
        observe(method, route, Number(statusCode));
      }
    }
  });
  try {
    await waitUntil(
      async () => (await fetch(`${url}/health/live`)).ok,
      STUCK_AFTER_MS,
      () => `the service at ${url} did not start:\n${lines.slice(-20).join('\n')}`,
      exited,
    );
  } catch (error) {
    // Not left running behind the failed test (a stuck start, or workers of a primary that exited).
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw error;
  }
  await keepDocument(url, env);
  return service;
}

/**
 * The production build started with exactly `env` on top of this process's environment (no test defaults),
 * run until it exits by itself: its exit code and everything it wrote (a start that must fail). A process
 * still running after `timeoutMs` (a start that did not fail) is sent SIGTERM.
 */
export async function runUntilExit(
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [MAIN_JS], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, output };
}

/** Polls `check` until it is true; fails with `describe()` after `timeoutMs` or when `exited` settles. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => string,
  exited?: Promise<unknown>,
): Promise<void> {
  let gone = false;
  void exited?.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (gone || Date.now() > deadline) throw new Error(describe());
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Resolves once /health/ready answers 200. */
export function waitUntilReady(service: ServiceProcess, timeoutMs = STUCK_AFTER_MS): Promise<void> {
  return waitUntil(
    async () => (await fetch(`${service.url}/health/ready`)).ok,
    timeoutMs,
    () => `${service.url} did not become ready:\n${service.lines.slice(-20).join('\n')}`,
    service.exited,
  );
}
