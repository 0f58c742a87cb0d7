import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import { createFastifyAdapter, prepareApp } from './app.setup';
import { loadConfig } from './config/config';
import { EmbeddedDatabase, startEmbeddedPostgres } from './database/embedded-postgres';
import { rootLogger } from './logging/root-logger';

async function bootstrap(): Promise<void> {
  const config = loadConfig();
  // Bootstrap and shutdown messages go through the same logger as every request line.
  const log = rootLogger(config);
  let embedded: EmbeddedDatabase | undefined;
  if (!config.database.url) {
    embedded = await startEmbeddedPostgres({
      dir: config.database.embeddedDir,
      port: config.database.embeddedPort,
      persistent: true,
    });
    process.env.DATABASE_URL = embedded.url;
    log.info(
      { port: config.database.embeddedPort, dir: config.database.embeddedDir },
      'DATABASE_URL unset: started an embedded PostgreSQL',
    );
  }

  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule,
    createFastifyAdapter(config),
    { bufferLogs: true },
  );
  await prepareApp(app);
  await app.listen({ port: config.port, host: config.host });

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info(
      { signal, graceMs: config.shutdownGraceMs },
      'shutting down: draining in-flight requests',
    );
    setTimeout(() => process.exit(1), config.shutdownGraceMs).unref();
    // Nest passes the signal to beforeApplicationShutdown hooks (terminus' readiness delay needs it);
    // its public type just does not declare the parameter.
    const close = app.close.bind(app) as (signal: string) => Promise<void>;
    close(signal)
      .then(() => embedded?.stop())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

bootstrap().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
