import cluster, { Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/config';
import { serveClusterScrapes } from '../metrics/cluster-metrics';

/** A worker that lived this long has its restart backoff reset. */
const STABLE_AFTER_MS = 30_000;
const FIRST_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;

/**
 * WORKERS > 1: this process forks that many workers (node:cluster), which share the port and each run the
 * whole service; the primary serves nothing itself. It restarts a worker that dies (backoff doubling per
 * quick death, logged), forwards SIGTERM/SIGINT so every worker drains as a single process does
 * (readiness 503 first), and exits once all have — at the latest SHUTDOWN_GRACE_MS after the signal.
 * Resolves when the cluster has shut down, with the exit code for the process. Its `starting workers` line is
 * the start-up summary.
 */
export function runClusterPrimary(
  config: AppConfig,
  log: Logger,
  summary: Record<string, unknown>,
): Promise<number> {
  const slots = new Map<Worker, { slot: number; startedAt: number }>();
  const quickDeaths = new Array<number>(config.workers).fill(0);
  const restarts = new Set<NodeJS.Timeout>();
  let shuttingDown = false;
  let failedExits = 0;
  /** Whether any worker ever listened: until one has, a dead worker means the service cannot start. */
  let started = false;
  let forwarded: NodeJS.Signals | undefined;

  const fork = (slot: number) => {
    const worker = cluster.fork({ WORKER_SLOT: String(slot) });
    slots.set(worker, { slot, startedAt: Date.now() });
  };

  // The start-up summary, for the whole process tree (workers say nothing more at info).
  log.info(
    {
      ...summary,
      throttleBudgets: config.throttle.redisUrl
        ? 'shared through Redis'
        : `per worker: each counts 1/${config.workers} of every limit (set REDIS_URL to share them)`,
    },
    'starting workers',
  );
  serveClusterScrapes();
  for (let slot = 0; slot < config.workers; slot++) fork(slot);

  return new Promise((resolve) => {
    cluster.on('listening', (worker) => {
      started = true;
      log.info({ workerPid: worker.process.pid }, 'worker listening');
    });
    cluster.on('exit', (worker, code, signal) => {
      const entry = slots.get(worker);
      slots.delete(worker);
      if (!entry) return;
      if (!shuttingDown && !started) {
        // Not one worker could start (a bad or unreachable database, a bad setting): it said why; the
        // process stops rather than restart it forever.
        log.fatal({ workerPid: worker.process.pid, code, signal }, 'no worker could start');
        shutdown('SIGTERM', 1);
        return;
      }
      if (shuttingDown) {
        // A worker still booting when the signal came is ended by it: that is a clean stop too.
        if (code !== 0 && signal !== forwarded) failedExits += 1;
        if (slots.size === 0) resolve(failedExits === 0 ? 0 : 1);
        return;
      }
      const lived = Date.now() - entry.startedAt;
      quickDeaths[entry.slot] = lived > STABLE_AFTER_MS ? 1 : quickDeaths[entry.slot] + 1;
      const delayMs = Math.min(
        MAX_RESTART_DELAY_MS,
        FIRST_RESTART_DELAY_MS * 2 ** (quickDeaths[entry.slot] - 1),
      );
      log.error(
        { workerPid: worker.process.pid, code, signal, livedMs: lived, restartInMs: delayMs },
        'worker died: restarting it',
      );
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (!shuttingDown) fork(entry.slot);
      }, delayMs);
      restarts.add(timer);
    });

    const shutdown = (signal: NodeJS.Signals, failed = 0) => {
      if (shuttingDown) return;
      shuttingDown = true;
      forwarded = signal;
      failedExits += failed;
      restarts.forEach(clearTimeout);
      log.info({ signal, workers: slots.size }, 'shutting down: draining every worker');
      for (const worker of slots.keys()) worker.process.kill(signal);
      if (slots.size === 0) resolve(failedExits === 0 ? 0 : 1);
      setTimeout(() => {
        log.error({ workers: slots.size }, 'workers still running after the grace period');
        for (const worker of slots.keys()) worker.process.kill('SIGKILL');
        resolve(1);
      }, config.shutdownGraceMs + 1_000).unref();
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
}
