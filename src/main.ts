import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import { createFastifyAdapter, prepareApp } from './app.setup';
import { loadConfig } from './config/config';
import { EmbeddedDatabase, startEmbeddedPostgres } from './database/embedded-postgres';

async function bootstrap(): Promise<void> {
  const config = loadConfig();
  let embedded: EmbeddedDatabase | undefined;
  if (!config.database.url) {
    embedded = await startEmbeddedPostgres({
      dir: config.database.embeddedDir,
      port: config.database.embeddedPort,
      persistent: true,
    });
    process.env.DATABASE_URL = embedded.url;
    console.log(`DATABASE_URL unset: embedded PostgreSQL on port ${config.database.embeddedPort}`);
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
    console.log(`${signal}: draining in-flight requests (at most ${config.shutdownGraceMs} ms)`);
    setTimeout(() => process.exit(1), config.shutdownGraceMs).unref();
    app
      .close()
      .then(() => embedded?.stop())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        console.error(error);
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
