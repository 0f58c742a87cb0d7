import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { LoadResults, PlannedRequest } from './load-client';

export const scratch = mkdtempSync(join(tmpdir(), 'golden-ticket-bench-'));
// mkdtemp makes it 700; as root the embedded server runs as the `postgres` user, which must enter it.
chmodSync(scratch, 0o755);

/**
 * The answers of a load that no rule explains: a 5xx other than 503 with Retry-After (the service's "try
 * again"), or no answer at all (ECONNRESET, CLOSED, TIMEOUT, …). Any one fails its scenario's targets.
 */
export interface Unexplained {
  count: number;
  /** By status ("500", "503 without Retry-After") or by the error code of a request without an answer. */
  byKind: Record<string, number>;
  /** By instance (its base URL), each by kind. */
  byInstance: Record<string, Record<string, number>>;
}

export const noUnexplained = (): Unexplained => ({ count: 0, byKind: {}, byInstance: {} });

/** What no rule explains about request `index`'s outcome, or undefined. */
export function unexplainedKind(results: LoadResults, index: number): string | undefined {
  const status = results.status[index];
  if (status < 0) return results.error[index] ?? 'no answer';
  if (status === 503)
    return results.retryAfter[index] === null ? '503 without Retry-After' : undefined;
  return status >= 500 ? String(status) : undefined;
}

function addUnexplained(total: Unexplained, instance: string, kind: string, n: number): void {
  total.count += n;
  total.byKind[kind] = (total.byKind[kind] ?? 0) + n;
  const kinds = (total.byInstance[instance] ??= {});
  kinds[kind] = (kinds[kind] ?? 0) + n;
}

/** Adds a load's unexplained answers to `total` (each request counted at its target's base URL). */
export function countUnexplained(
  total: Unexplained,
  plan: PlannedRequest[],
  results: LoadResults,
  baseUrls: string[],
): Unexplained {
  plan.forEach((request, index) => {
    const kind = unexplainedKind(results, index);
    if (kind !== undefined) addUnexplained(total, baseUrls[request.target ?? 0], kind, 1);
  });
  return total;
}

/** The sum of several storms' (or runs') unexplained answers. */
export function sumUnexplained(parts: Unexplained[]): Unexplained {
  const total = noUnexplained();
  for (const part of parts) {
    for (const [instance, kinds] of Object.entries(part.byInstance)) {
      for (const [kind, n] of Object.entries(kinds)) addUnexplained(total, instance, kind, n);
    }
  }
  return total;
}

/** Runs plans against `baseUrls` (each request to its target), adding what no rule explains to `into`. */
export function countingLoad(baseUrls: string[], into: Unexplained) {
  return async (name: string, plan: PlannedRequest[], connections: number) => {
    const results = await runLoad(name, plan, baseUrls, connections);
    countUnexplained(into, plan, results, baseUrls);
    return results;
  };
}

/** One line for the table: "none", or each kind with its count by instance. */
export function describeUnexplained(unexplained: Unexplained): string {
  if (unexplained.count === 0) return 'none';
  return Object.entries(unexplained.byInstance)
    .map(
      ([instance, kinds]) =>
        `${instance}: ${Object.entries(kinds)
          .map(([kind, n]) => `${kind} ×${n}`)
          .join(', ')}`,
    )
    .join('; ');
}

/** Runs a plan through the load client in its own process and returns what it measured. */
export async function runLoad(
  name: string,
  plan: PlannedRequest[],
  baseUrls: string[],
  connections: number,
): Promise<LoadResults> {
  const planFile = join(scratch, `${name}.plan.json`);
  const resultsFile = join(scratch, `${name}.results.json`);
  writeFileSync(planFile, JSON.stringify(plan));
  const child = spawn(
    process.execPath,
    [
      join(__dirname, 'load-client.js'),
      planFile,
      resultsFile,
      baseUrls.join(','),
      String(connections),
    ],
    { stdio: 'inherit' },
  );
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`load client for ${name} exited with ${code}`);
  return JSON.parse(readFileSync(resultsFile, 'utf8')) as LoadResults;
}

/** A Node process of ours, with its stdout as JSON lines when it writes them. */
export interface Process {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

/** The Node binary and its flags a measured process runs with (the bench's own Node unless `node` is given). */
export interface NodeOptions {
  node?: string;
  nodeArgs?: string[];
}

export function startProcess(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  { node = process.execPath, nodeArgs = [] }: NodeOptions = {},
): Process {
  const child = spawn(node, [...nodeArgs, script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, lines, exited };
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Peak resident set size of a process (VmHWM), in MB. */
export function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

/** `node --version` of a Node binary (the bench's own when none is given). */
export function nodeVersion(node = process.execPath): string {
  return execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
}

/**
 * Clock ticks per second of /proc's CPU times: `getconf CLK_TCK` (100 on Linux x86-64 and arm64; the
 * kernel's USER_HZ, which does not change with its tick rate), 100 when getconf is missing.
 */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time a process has used so far, user + system of all its threads (/proc/<pid>/stat fields 14 and 15),
 * in microseconds: the same figure as that process's own `process.cpuUsage()`, at the resolution of a clock
 * tick (10 ms). Sampled before and after a phase, the difference is what the phase cost that process.
 */
export function cpuTimeUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (the command) is in parentheses and may hold spaces: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so fields 14 and 15 are fields[11] and fields[12].
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS;
}

/**
 * Runs `work` and returns, with its result, the CPU time each of `pids` used meanwhile (µs), sampled right
 * before it starts and right after it returns (for a load, after the load client has exited).
 */
export async function withCpu<T>(
  pids: number[],
  work: () => Promise<T>,
): Promise<{ result: T; cpuUs: number[] }> {
  const before = pids.map(cpuTimeUs);
  const result = await work();
  const after = pids.map(cpuTimeUs);
  return { result, cpuUs: after.map((us, i) => us - before[i]) };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function latencySummary(values: number[]) {
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    count: values.length,
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    p99: round(percentile(values, 99)),
    max: round(values.length ? Math.max(...values) : 0),
  };
}

/** Fisher–Yates with a seeded generator, so every run fires the same order. */
export function shuffle<T>(items: T[], seed = 42): T[] {
  let state = seed;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** Creates an event through the API; fails the run unless it answers 201. */
export async function postEvent(baseUrl: string, event: Record<string, unknown>): Promise<void> {
  const created = await fetch(`${baseUrl}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event),
  });
  if (created.status !== 201) throw new Error(`event not created: ${created.status}`);
}

export const round2 = (n: number) => Math.round(n * 100) / 100;
