/**
 * npm run chaos -- --seconds N --seed S [--mutate NAME] [--out DIR] [--no-faketime]
 *
 * Runs the production build as three instances (one with WORKERS=2, one started late) on one PostgreSQL
 * behind a TCP proxy, with Redis; mobile-app clients and an operator send their requests while a seeded
 * nemesis injects faults; then checks the recorded history and the database (checker.ts). Exit code 0: no
 * violation; 1: violations (printed with the seed and the windows that show them); 2: the harness failed.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import knexFactory from 'knex';
import { buildKnexConfig } from '../src/database/knex-config';
import { CheckInput, DbSnapshot, check } from './checker';
import { Clients, Target } from './clients';
import { History } from './history';
import { MUTATIONS, mutatedBuild } from './mutations';
import { Stage, healAll, runNemesis } from './nemesis';
import { Prng } from './prng';
import { freePort } from '../test/support/embedded-server';
import { renderReport, writeHistory } from './report';
import {
  Cleanup,
  Instance,
  RedisServer,
  findFaketime,
  sleep,
  startDatabase,
  startDatabaseProxy,
} from './system';
import {
  ProbeResult,
  createEvents,
  patchEvent,
  planEvents,
  planSessions,
  probeKeys,
  runOperator,
  runSession,
} from './workload';

interface Options {
  seconds: number;
  seed: number;
  mutate?: string;
  out?: string;
  faketime: boolean;
}

/** The service's settings for the run: short deadlines so faults show within seconds. */
const SERVICE_ENV = {
  NODE_ENV: 'production',
  ADMIN_AUTH: 'disabled',
  LOG_LEVEL: 'warn',
  HOST: '127.0.0.1',
  DOCS_UI: 'false',
  // Every client is 127.0.0.1: the per-IP flood guard would refuse them all as one.
  THROTTLE_IP_LIMIT: '1000000',
  // Low enough that retry storms meet 429s.
  THROTTLE_USER_LIMIT: '4',
  THROTTLE_USER_TTL_MS: '2000',
  SHUTDOWN_READINESS_DELAY_MS: '300',
  SHUTDOWN_GRACE_MS: '8000',
  DB_STATEMENT_TIMEOUT_MS: '2000',
  DB_ACQUIRE_TIMEOUT_MS: '2000',
  DB_POOL_MAX: '8',
  IDEMPOTENCY_LOCK_TIMEOUT_SECONDS: '5',
};
/** After a fault is healed its 503s may still arrive for a query deadline and a Retry-After. */
const GRACE_503_MS = 8_000;
/** The run's instant of 00:00 KST, as a share of the traffic window. */
const MIDNIGHT_AT = 0.45;

function parseOptions(args: string[]): Options {
  const value = (name: string) => {
    const index = args.indexOf(name);
    return index >= 0 ? args[index + 1] : undefined;
  };
  const known = ['--seconds', '--seed', '--mutate', '--out', '--no-faketime'];
  const unknown = args.filter((arg) => arg.startsWith('--') && !known.includes(arg));
  if (unknown.length > 0) throw new Error(`unknown option ${unknown.join(' ')}`);
  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const seconds = Number(value('--seconds') ?? 60);
  const seed = Number(value('--seed') ?? process.env.CHAOS_SEED ?? today);
  if (!Number.isInteger(seconds) || seconds < 20 || seconds > 3_600) {
    throw new Error('--seconds must be an integer from 20 to 3600');
  }
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new Error('--seed must be an integer from 0 to 2^32-1');
  }
  const mutate = value('--mutate');
  const out = value('--out');
  return {
    seconds,
    seed,
    ...(mutate ? { mutate } : {}),
    ...(out ? { out } : {}),
    faketime: !args.includes('--no-faketime'),
  };
}

function log(line: string): void {
  process.stderr.write(`[chaos] ${line}\n`);
}

async function run(options: Options, root: string, cleanup: Cleanup): Promise<number> {
  const { seconds, seed } = options;
  const replay = `npm run chaos -- --seconds ${seconds} --seed ${seed}${options.mutate ? ` --mutate ${options.mutate}` : ''}`;
  log(`seed ${seed}, ${seconds} s (replay the plan: ${replay})`);
  const scratch = mkdtempSync(join(tmpdir(), 'golden-ticket-chaos-'));
  // mkdtemp makes it 700; as root the embedded server runs as `postgres`, which must enter it.
  chmodSync(scratch, 0o755);
  cleanup.add('scratch folder', () => rmSync(scratch, { recursive: true, force: true }));
  const dist = options.mutate ? mutatedBuild(root, options.mutate, cleanup) : join(root, 'dist');
  const mainJs = join(dist, 'src', 'main.js');
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run npm run build`);
  if (options.mutate) log(`mutation ${options.mutate} applied to a copy of dist/ (${dist})`);
  const out = resolve(options.out ?? join(root, 'chaos', 'results', `seed-${seed}`));
  mkdirSync(out, { recursive: true });

  const history = new History();
  const rng = new Prng(seed);
  const database = await startDatabase(scratch, cleanup);
  const proxy = await startDatabaseProxy(database.url, cleanup);
  const redis = await RedisServer.start(cleanup);
  log(
    `${database.describe}; ${redis ? `Redis ${redis.url}${redis.owned ? ' (the run’s own)' : ' (shared: never stopped)'}` : 'no Redis'}`,
  );

  // Every instance's clock moved by the same offset, so the run crosses 00:00 KST at MIDNIGHT_AT.
  const faketime = options.faketime ? findFaketime() : undefined;
  const setupMs = 8_000;
  let fakeOffsetMs = 0;
  if (faketime) {
    const crossAt = history.startedAt + setupMs + seconds * 1000 * MIDNIGHT_AT;
    fakeOffsetMs = Math.round((nextKstMidnight(crossAt) - crossAt) / 1000) * 1000;
  }
  log(
    faketime
      ? `libfaketime: service clocks ${fakeOffsetMs >= 0 ? '+' : ''}${fakeOffsetMs / 1000} s`
      : 'no libfaketime (apt-get install faketime): the run does not cross 00:00 KST',
  );
  const env: NodeJS.ProcessEnv = {
    ...SERVICE_ENV,
    DATABASE_URL: proxy.rewrite(database.url),
    REDIS_URL: redis?.url,
    ...(faketime
      ? {
          LD_PRELOAD: faketime,
          FAKETIME: `${fakeOffsetMs >= 0 ? '+' : ''}${fakeOffsetMs / 1000}s`,
          // Timers and deadlines keep real time; only the wall clock moves.
          FAKETIME_DONT_FAKE_MONOTONIC: '1',
        }
      : {}),
  };
  if (!redis) delete env.REDIS_URL;
  const instances = [
    new Instance('a', await freePort(), mainJs, { ...env, WORKERS: '1' }, join(out, 'a.log')),
    new Instance('b', await freePort(), mainJs, { ...env, WORKERS: '2' }, join(out, 'b.log')),
    new Instance('c', await freePort(), mainJs, { ...env, WORKERS: '1' }, join(out, 'c.log')),
  ];
  for (const instance of instances)
    cleanup.add(`instance ${instance.name}`, () => instance.kill9());
  // Two at once on an empty database: one applies the migrations, the other waits for them.
  await Promise.all(instances.slice(0, 2).map((instance) => instance.start()));
  const clients = new Clients(history, () =>
    instances
      .filter((instance) => instance.starts > 0)
      .map((instance): Target => ({ name: instance.name, port: instance.port })),
  );
  cleanup.add('HTTP agents', () => clients.close());

  const from = history.now() + 500;
  const until = from + seconds * 1000;
  const events = planEvents(seed, from, seconds);
  const wire = (at: number) =>
    new Date(history.startedAt + at + fakeOffsetMs).toISOString().slice(0, 19) + 'Z';
  await createEvents(clients, rng.fork(0), seed, events, wire);
  const midnightAt = faketime
    ? nextKstMidnight(history.startedAt + from + fakeOffsetMs) - history.startedAt - fakeOffsetMs
    : undefined;
  if (midnightAt !== undefined && midnightAt <= until) {
    history.fault({
      kind: 'midnight-kst',
      target: 'every clock',
      startAt: midnightAt,
      endAt: midnightAt,
      note: '00:00 KST on the service clocks',
    });
  }

  const sessions = planSessions(rng.fork(1), seed, events, from, seconds);
  const deadline = until + 10_000;
  const stage: Stage = {
    history,
    instances,
    late: instances[2],
    lateAt: from + rng.between(0.15, 0.3) * seconds * 1000,
    proxy,
    ...(redis ? { redis } : {}),
  };
  log(`${sessions.length} app sessions over ${events.length} events; faults from +2 s to the end`);
  const progress = setInterval(() => {
    const faults = history.faults.filter((fault) => fault.kind !== 'midnight-kst').length;
    log(
      `+${Math.round((history.now() - from) / 1000)} s: ${history.entries.length} requests, ${faults} faults`,
    );
  }, 15_000);
  cleanup.add('progress', () => clearInterval(progress));
  const users = Promise.all(
    sessions.map((session) =>
      runSession(clients, rng.fork(100 + session.index), session, deadline),
    ),
  );
  const switchable = events.filter((event) => event.exists).map((event) => event.eventKey);
  const operator = runOperator(clients, rng.fork(2), seed, switchable, until - 2_000, deadline);
  await runNemesis(stage, rng.fork(3), from + 2_000, until - 3_000);
  await healAll(stage);
  await Promise.all([users, operator]);
  clearInterval(progress);

  // Recovery: everything up, claims of killed requests past their lock timeout; then every key once more,
  // with the events as left, and again with every event switched off (the answers must not change).
  await healAll(stage);
  await sleep(Number(SERVICE_ENV.IDEMPOTENCY_LOCK_TIMEOUT_SECONDS) * 1000 + 1_000);
  log(`recovered; probing every key (${history.entries.length} requests so far)`);
  const probes: ProbeResult[] = await probeKeys(clients, history, rng.fork(4), 1);
  const probeRng = rng.fork(5);
  for (const eventKey of switchable) {
    await patchEvent(
      clients,
      probeRng,
      eventKey,
      false,
      `final-off-${seed}-${eventKey}`,
      history.now() + 30_000,
    );
  }
  await sleep(1_500);
  probes.push(...(await probeKeys(clients, history, rng.fork(6), 2)));

  // A graceful stop of every instance: what each still holds is written before the database is read.
  await Promise.all(instances.map((instance) => instance.sigterm()));
  const db = await snapshot(database.url);
  const input: CheckInput = {
    entries: history.entries,
    faults: history.faults,
    db,
    probes,
    origin: history.startedAt,
    fakeOffsetMs,
    grace503Ms: GRACE_503_MS,
  };
  const report = check(input);
  const historyFile = join(out, 'history.json');
  writeHistory(
    historyFile,
    {
      seed,
      seconds,
      replay,
      mutation: options.mutate ?? null,
      startedAt: new Date(history.startedAt).toISOString(),
      traffic: { from, until },
      serviceClockOffsetMs: fakeOffsetMs,
      instances: instances.map((i) => ({ name: i.name, port: i.port, starts: i.starts })),
      events,
      summary: summarize(history, db),
    },
    input,
    report,
  );
  process.stdout.write(`${renderReport(seed, input, report)}\n`);
  log(`summary ${JSON.stringify(summarize(history, db))}`);
  log(`history: ${historyFile}`);
  return report.violations.length > 0 ? 1 : 0;
}

/** The first 00:00 KST (15:00 UTC) at or after `epochMs`. */
function nextKstMidnight(epochMs: number): number {
  const day = 86_400_000;
  return Math.ceil((epochMs - 15 * 3_600_000) / day) * day + 15 * 3_600_000;
}

/** Counts a person wants to see next to the verdict. */
function summarize(history: History, db: DbSnapshot) {
  const statuses: Record<string, number> = {};
  for (const entry of history.entries) {
    const label = entry.error ?? String(entry.status);
    statuses[label] = (statuses[label] ?? 0) + 1;
  }
  const faults: Record<string, number> = {};
  for (const fault of history.faults) faults[fault.kind] = (faults[fault.kind] ?? 0) + 1;
  return {
    requests: history.entries.length,
    keys: new Set(history.entries.flatMap((e) => (e.key ? [e.key] : []))).size,
    replayed: history.entries.filter((e) => e.replayed).length,
    answers: statuses,
    faults,
    tickets: db.tickets.length,
  };
}

async function snapshot(url: string): Promise<DbSnapshot> {
  const knex = knexFactory(buildKnexConfig({ url, poolMin: 0, poolMax: 2 }));
  try {
    const events = await knex.raw<{ rows: Array<Record<string, unknown>> }>(
      'SELECT event_key, total_quantity, daily_limit, issued_count, start_at, end_at FROM events',
    );
    const tickets = await knex.raw<{ rows: Array<Record<string, unknown>> }>(
      `SELECT t.id, e.event_key, t.user_id, t.issued_at, t.kst_day::text AS kst_day
         FROM tickets t JOIN events e ON e.id = t.event_id`,
    );
    const daily = await knex.raw<{ rows: Array<Record<string, unknown>> }>(
      `SELECT e.event_key, d.kst_day::text AS kst_day, d.issued_count
         FROM event_daily_counts d JOIN events e ON e.id = d.event_id`,
    );
    const keys = await knex.raw<{ rows: Array<Record<string, unknown>> }>(
      'SELECT idempotency_key, lock_token, response_status, response_body FROM idempotency_keys',
    );
    return {
      events: events.rows.map((row) => ({
        eventKey: String(row.event_key),
        totalQuantity: Number(row.total_quantity),
        dailyLimit: row.daily_limit === null ? null : Number(row.daily_limit),
        issuedCount: Number(row.issued_count),
        startAt: (row.start_at as Date).toISOString(),
        endAt: (row.end_at as Date).toISOString(),
      })),
      tickets: tickets.rows.map((row) => ({
        ticketId: String(row.id),
        eventKey: String(row.event_key),
        userId: Number(row.user_id),
        issuedAt: (row.issued_at as Date).toISOString().slice(0, 19) + 'Z',
        issuedAtMs: (row.issued_at as Date).getTime(),
        kstDay: String(row.kst_day),
      })),
      dailyCounts: daily.rows.map((row) => ({
        eventKey: String(row.event_key),
        kstDay: String(row.kst_day),
        issuedCount: Number(row.issued_count),
      })),
      keysInFlight: keys.rows
        .filter((row) => row.lock_token !== null)
        .map((row) => String(row.idempotency_key)),
      storedAnswers: keys.rows
        .filter((row) => row.response_status !== null)
        .map((row) => ({
          key: String(row.idempotency_key),
          status: Number(row.response_status),
          body: String(row.response_body),
        })),
    };
  } finally {
    await knex.destroy();
  }
}

/** The folder with package.json: run from dist/chaos (npm run chaos) or from chaos/ (ts-node, tests). */
function projectRoot(): string {
  let folder = __dirname;
  while (!existsSync(join(folder, 'package.json'))) {
    const parent = dirname(folder);
    if (parent === folder) throw new Error(`no package.json above ${__dirname}`);
    folder = parent;
  }
  return folder;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--list-mutations')) {
    for (const mutation of MUTATIONS) {
      process.stdout.write(
        `${mutation.name}: ${mutation.what} (caught as ${mutation.caught.join(', ')})\n`,
      );
    }
    return;
  }
  const cleanup = new Cleanup();
  const interrupt = (signal: string) => {
    log(`${signal}: stopping everything the run started`);
    void cleanup.run().then(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  process.on('unhandledRejection', (error) => {
    log(`harness failure: ${String(error)}`);
    void cleanup.run().then(() => process.exit(2));
  });
  let code = 2;
  try {
    code = await run(parseOptions(args), projectRoot(), cleanup);
  } catch (error) {
    log(
      `harness failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  } finally {
    await cleanup.run();
  }
  process.exit(code);
}

void main();
