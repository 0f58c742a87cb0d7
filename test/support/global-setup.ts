import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import knexFactory from 'knex';
import { buildKnexConfig } from '../../src/database/knex-config';
import { startSuitePostgres } from './embedded-server';
import { startObserving } from './openapi-coverage';
import { TEMPLATE_SUFFIX, testServerUrl } from './test-database';

/**
 * Builds the production build (the process tests run `node dist/src/main.js`, as operators do), starts a
 * throwaway embedded PostgreSQL (or uses DATABASE_URL, if it names a database made for tests) and builds a
 * migrated template database; each test file clones it into a database of its own.
 */
export default async function globalSetup(): Promise<void> {
  const root = join(__dirname, '..', '..');
  execFileSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
    { cwd: root, stdio: 'inherit' },
  );

  let baseUrl = process.env.DATABASE_URL;
  if (baseUrl) {
    const name = new URL(baseUrl).pathname.slice(1);
    if (!/_test$/.test(name)) {
      throw new Error(
        `Refusing to run tests against "${name}": DATABASE_URL must name a database ending in _test`,
      );
    }
  } else {
    const embedded = await startSuitePostgres('golden_ticket_test');
    (globalThis as { embeddedPostgres?: unknown }).embeddedPostgres = embedded;
    baseUrl = embedded.url;
  }
  process.env.TEST_DATABASE_URL = baseUrl;
  startObserving();

  const template = `${new URL(baseUrl).pathname.slice(1)}${TEMPLATE_SUFFIX}`;
  const admin = knexFactory(buildKnexConfig({ url: testServerUrl(baseUrl, 'postgres') }));
  await admin.raw(`DROP DATABASE IF EXISTS "${template}"`);
  await admin.raw(`CREATE DATABASE "${template}"`);
  await admin.destroy();
  const knex = knexFactory(buildKnexConfig({ url: testServerUrl(baseUrl, template) }));
  await knex.migrate.latest();
  await knex.destroy();
}
