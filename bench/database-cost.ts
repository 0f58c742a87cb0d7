/**
 * What a phase costs PostgreSQL and the machine, sampled before and after it: the server's CPU time (the
 * postmaster and every process it forked: backends, WAL writer, checkpointer, autovacuum), the WAL it wrote,
 * the CPU time of the bench's exited children (the load client), and the whole machine's busy time (to tell
 * what the neighbours took). The embedded server runs on this machine, so its processes are readable in /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import { CLOCK_TICKS } from './support';

/** Fields 3… of /proc/<pid>/stat (field 2, the command, is in parentheses and may hold spaces). */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // exited meanwhile: its time is in its parent's children fields once reaped
  }
}

const ticksToUs = (ticks: number) => (ticks * 1_000_000) / CLOCK_TICKS;

/** utime + stime (fields 14, 15), with cutime + cstime (16, 17) of the children it reaped when asked. */
function ownCpuUs(fields: string[], reapedChildren: boolean): number {
  const own = Number(fields[11]) + Number(fields[12]);
  return ticksToUs(reapedChildren ? own + Number(fields[13]) + Number(fields[14]) : own);
}

/** The CPU time of the bench's children that have exited (the load clients), µs. */
export function exitedChildrenCpuUs(): number {
  const fields = statFields('self')!;
  return ticksToUs(Number(fields[13]) + Number(fields[14]));
}

/** The machine's busy time over every core (/proc/stat: all but idle and iowait), µs. */
export function machineBusyUs(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = ticks.map(Number);
  return ticksToUs(user + nice + system + irq + softirq + steal);
}

/** What a server process is, from its title ("postgres: walwriter", "postgres: user db 127.0.0.1(5432) idle"). */
function processKind(pid: number): string {
  try {
    const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    if (/\(\d+\)|\[local\]/.test(title)) return 'backends';
    return title.replace(/^postgres:\s*/, '').replace(/\s.*$/, '') || 'other';
  } catch {
    return 'other';
  }
}

/**
 * The PostgreSQL server's CPU time so far: the postmaster with what it reaped (exited backends and
 * autovacuum workers), and its live children, by kind of process.
 */
function serverCpuUs(postmaster: number): Record<string, number> {
  const fields = statFields(postmaster)!;
  const byKind: Record<string, number> = {
    postmaster: ownCpuUs(fields, false),
    exited: ownCpuUs(fields, true) - ownCpuUs(fields, false),
  };
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = statFields(Number(entry));
    // child[1] is field 4, the parent's pid.
    if (!child || Number(child[1]) !== postmaster) continue;
    const kind = processKind(Number(entry));
    byKind[kind] = (byKind[kind] ?? 0) + ownCpuUs(child, false);
  }
  return byKind;
}

const sum = (byKind: Record<string, number>) => Object.values(byKind).reduce((a, b) => a + b, 0);

/** What each kind of process spent between two readings (a kind that ended meanwhile went to `exited`). */
function spentByKind(before: Record<string, number>, after: Record<string, number>) {
  return Object.fromEntries(
    Object.keys(after)
      .map((kind): [string, number] => [kind, after[kind] - (before[kind] ?? 0)])
      .filter(([, us]) => us > 0),
  );
}

/** The postmaster of the server `knex` talks to: the parent of the backend serving it. */
async function postmasterOf(knex: Knex): Promise<number> {
  const { rows } = await knex.raw<{ rows: Array<{ pid: number }> }>(
    'SELECT pg_backend_pid() AS pid',
  );
  const fields = statFields(rows[0].pid);
  if (!fields) throw new Error('the database server runs elsewhere: its CPU time cannot be read');
  return Number(fields[1]);
}

async function walLsn(knex: Knex): Promise<string> {
  const { rows } = await knex.raw<{ rows: Array<{ lsn: string }> }>(
    'SELECT pg_current_wal_lsn()::text AS lsn',
  );
  return rows[0].lsn;
}

/** Commits and rollbacks of the database `knex` talks to, as its statistics hold them so far. */
async function transactionsSoFar(knex: Knex): Promise<number> {
  const { rows } = await knex.raw<{ rows: Array<{ n: string }> }>(
    `SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()`,
  );
  return Number(rows[0].n);
}

/**
 * A backend that has just reported its statistics reports again once it has been idle this long
 * (PostgreSQL's PGSTAT_IDLE_INTERVAL, 10 s): then every transaction of a phase is counted.
 */
const STATISTICS_FLUSHED_MS = 11_000;

export interface PhaseCost {
  durationMs: number;
  /** PostgreSQL's CPU time, every process of the server. */
  databaseCpuUs: number;
  /** The same by kind of process: backends, walwriter, checkpointer, autovacuum, exited, postmaster… */
  databaseCpuUsByProcess: Record<string, number>;
  /** WAL written (pg_wal_lsn_diff of pg_current_wal_lsn() after and before). */
  walBytes: number;
  /** The bench's children that exited meanwhile: the load client of a load. */
  clientCpuUs: number;
  /** The bench process's own CPU time (its sampling, its queries' client side). */
  benchCpuUs: number;
  /** Every core's busy time, ours and the neighbours'. */
  machineBusyUs: number;
  /** Transactions of the database (statements outside one included), when counted: the bench's own are few. */
  transactions?: number;
}

/** Runs `work` and returns, with its result, what it cost the database server and the machine. */
export async function withDatabaseCost<T>(
  knex: Knex,
  work: () => Promise<T>,
  { countTransactions = false } = {},
): Promise<{ result: T; cost: PhaseCost }> {
  const postmaster = await postmasterOf(knex);
  if (countTransactions) await new Promise((resolve) => setTimeout(resolve, STATISTICS_FLUSHED_MS));
  const transactionsBefore = countTransactions ? await transactionsSoFar(knex) : 0;
  const lsn = await walLsn(knex);
  const before = {
    at: performance.now(),
    database: serverCpuUs(postmaster),
    client: exitedChildrenCpuUs(),
    bench: process.cpuUsage(),
    machine: machineBusyUs(),
  };
  const result = await work();
  const after = {
    at: performance.now(),
    database: serverCpuUs(postmaster),
    client: exitedChildrenCpuUs(),
    bench: process.cpuUsage(),
    machine: machineBusyUs(),
  };
  const { rows } = await knex.raw<{ rows: Array<{ bytes: string }> }>(
    'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ?::pg_lsn)::bigint AS bytes',
    [lsn],
  );
  let transactions: number | undefined;
  if (countTransactions) {
    await new Promise((resolve) => setTimeout(resolve, STATISTICS_FLUSHED_MS));
    transactions = (await transactionsSoFar(knex)) - transactionsBefore;
  }
  return {
    result,
    cost: {
      durationMs: after.at - before.at,
      databaseCpuUs: sum(after.database) - sum(before.database),
      databaseCpuUsByProcess: spentByKind(before.database, after.database),
      walBytes: Number(rows[0].bytes),
      clientCpuUs: after.client - before.client,
      benchCpuUs: after.bench.user + after.bench.system - before.bench.user - before.bench.system,
      machineBusyUs: after.machine - before.machine,
      transactions,
    },
  };
}
