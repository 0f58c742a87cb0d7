import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Knex } from 'knex';
import { AppConfig, loadConfig } from '../../src/config/config';
import { ManualClock } from '../../src/clock/manual-clock';
import { bootApp } from './boot-app';
import { keepDocument } from './openapi-coverage';
import { TEST_CLIENT_TIMEOUTS } from './service-process';
import { connect, createTestDatabase } from './test-database';

export interface TestApp {
  app: NestFastifyApplication;
  /** Base URL of the listening server, for supertest and real concurrent requests. */
  url: string;
  databaseUrl: string;
  /** A separate connection to the app's database, to check what really got stored. */
  db: Knex;
  clock: ManualClock;
  config: AppConfig;
  /** Closes the app (and, with `keepDatabase: false`, drops its database). */
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Environment variables on top of the test defaults. */
  env?: Record<string, string | undefined>;
  now?: string;
  /** Reuse the database of another TestApp (two instances on one database). */
  databaseUrl?: string;
}

/** Boots the real AppModule in-process on Fastify against a fresh real PostgreSQL database. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.databaseUrl ? undefined : await createTestDatabase();
  const databaseUrl = options.databaseUrl ?? database!.url;
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    DB_POOL_MIN: '0',
    THROTTLE_IP_LIMIT: '1000000',
    THROTTLE_USER_LIMIT: '1000000',
    // Swagger UI's static files need ESM-only packages that Jest cannot load; the process test checks /docs.
    DOCS_UI: 'false',
    ...TEST_CLIENT_TIMEOUTS,
    ...options.env,
  });
  const clock = new ManualClock(options.now ?? '2026-03-01T12:00:00Z');
  const app = await bootApp(config, clock);
  const db = connect(databaseUrl);
  const url = await app.getUrl();
  await keepDocument(url, options.env ?? {});
  return {
    app,
    url,
    databaseUrl,
    db,
    clock,
    config,
    close: async () => {
      await app.close();
      await db.destroy();
      await database?.drop();
    },
  };
}
