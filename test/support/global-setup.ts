import { chmodSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory from 'knex';
import { buildKnexConfig } from '../../src/database/knex-config';
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres';
import { TEMPLATE_SUFFIX, testServerUrl } from './test-database';

/**
 * Starts a throwaway embedded PostgreSQL (or uses DATABASE_URL, if it names a database made for tests) and
 * builds a migrated template database; each test file clones it into a database of its own.
 */
export default async function globalSetup(): Promise<void> {
  let baseUrl = process.env.DATABASE_URL;
  if (baseUrl) {
    const name = new URL(baseUrl).pathname.slice(1);
    if (!/_test$/.test(name)) {
      throw new Error(
        `Refusing to run tests against "${name}": DATABASE_URL must name a database ending in _test`,
      );
    }
  } else {
    const port = await freePort();
    const parent = mkdtempSync(join(tmpdir(), 'golden-ticket-test-'));
    // As root, embedded-postgres runs the server as a `postgres` user, which must reach the folder.
    chmodSync(parent, 0o755);
    const embedded = await startEmbeddedPostgres({
      dir: join(parent, 'pg'),
      port,
      persistent: false,
      database: 'golden_ticket_test',
    });
    (globalThis as { embeddedPostgres?: unknown }).embeddedPostgres = embedded;
    baseUrl = embedded.url;
  }
  process.env.TEST_DATABASE_URL = baseUrl;

  const template = `${new URL(baseUrl).pathname.slice(1)}${TEMPLATE_SUFFIX}`;
  const admin = knexFactory(buildKnexConfig({ url: testServerUrl(baseUrl, 'postgres') }));
  await admin.raw(`DROP DATABASE IF EXISTS "${template}"`);
  await admin.raw(`CREATE DATABASE "${template}"`);
  await admin.destroy();
  const knex = knexFactory(buildKnexConfig({ url: testServerUrl(baseUrl, template) }));
  await knex.migrate.latest();
  await knex.destroy();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
