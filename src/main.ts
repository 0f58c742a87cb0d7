import 'reflect-metadata';
import cluster from 'node:cluster';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pino, { Logger } from 'pino';
import { AppModule } from './app.module';
import { createFastifyAdapter, prepareApp } from './app.setup';
import { runClusterPrimary } from './cluster/cluster-primary';
import { AppConfig, loadConfig } from './config/config';
import { startEmbeddedPostgresProcess } from './database/embedded-postgres';
import { isDatabaseUnavailable } from './database/pg-errors';
import { rootLogger } from './logging/root-logger';
import { startupSummary } from './logging/startup-summary';

/** DATABASE_URL, or an embedded PostgreSQL started for it (persistent, in EMBEDDED_PG_DIR). */
async function ensureDatabase(
  config: AppConfig,
  log: Logger,
): Promise<{ stop(): Promise<void> } | undefined> {
  if (config.database.url) return undefined;
  const embedded = await startEmbeddedPostgresProcess({
    dir: config.database.embeddedDir,
    port: config.database.embeddedPort,
    persistent: true,
  });
  // Read by the app's configuration, and inherited by cluster workers.
  process.env.DATABASE_URL = embedded.url;
  // (The start-up summary says it.)
  log.debug(
    { port: config.database.embeddedPort, dir: config.database.embeddedDir },
    'DATABASE_URL unset: started an embedded PostgreSQL',
  );
  return embedded;
}

/**
 * The service in this process: listen (then say so in one line, unless a cluster primary said it for its
 * workers), then drain on SIGTERM/SIGINT. Resolves with the exit code.
 */
async function runServer(
  config: AppConfig,
  log: Logger,
  summary?: Record<string, unknown>,
): Promise<number> {
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule,
    createFastifyAdapter(config),
    { bufferLogs: true },
  );
  await prepareApp(app);
  await app.listen({ port: config.port, host: config.host });
  if (summary) log.info(summary, 'Golden Ticket listening');

  return new Promise((resolve) => {
    let closing = false;
    const shutdown = (signal: string) => {
      if (closing) return;
      closing = true;
      log.info(
        { signal, graceMs: config.shutdownGraceMs },
        'shutting down: draining in-flight requests',
      );
      // SHUTDOWN_GRACE_MS bounds it all, whatever hangs.
      setTimeout(() => process.exit(1), config.shutdownGraceMs).unref();
      // Nest passes the signal to beforeApplicationShutdown hooks (terminus' readiness delay needs it);
      // its public type just does not declare the parameter.
      const close = app.close.bind(app) as (signal: string) => Promise<void>;
      close(signal).then(
        () => resolve(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
}

/**
 * One process serving the port (WORKERS=1), or a cluster primary with WORKERS workers, each of which runs
 * the service. The embedded PostgreSQL (DATABASE_URL unset) belongs to the first process.
 */
async function main(): Promise<number> {
  const config = loadConfig();
  // Bootstrap and shutdown messages go through the same logger as every request line.
  const log = rootLogger(config);
  if (cluster.isWorker) return runServer(config, log);
  const embedded = await ensureDatabase(config, log);
  const summary = startupSummary(
    config,
    embedded
      ? { embedded: { port: config.database.embeddedPort, dir: config.database.embeddedDir } }
      : 'external',
  );
  try {
    return config.workers > 1
      ? await runClusterPrimary(config, log, summary)
      : await runServer(config, log, summary);
  } finally {
    // Once the service has drained (or could not start): its last queries are done.
    await embedded?.stop();
  }
}

/** What went wrong at start-up, in words an operator can act on. */
function startupFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (isDatabaseUnavailable(error)) return `cannot reach PostgreSQL (DATABASE_URL): ${message}`;
  if (typeof code === 'string' && /^(28|3D)/.test(code)) {
    return `PostgreSQL refused the connection (DATABASE_URL): ${message}`;
  }
  return message;
}

main().then(
  (exitCode) => process.exit(exitCode),
  (error: unknown) => {
    // A JSON line like every other (the configuration, and so the service's own logger, may be what failed).
    pino().fatal(`Golden Ticket could not start: ${startupFailure(error)}`);
    process.exit(1);
  },
);
