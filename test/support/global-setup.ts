import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import knexFactory from 'knex';
import { buildKnexConfig } from '../../src/database/knex-config';
import { freePort, startSuitePostgres } from './embedded-server';
import { startObserving } from './openapi-coverage';
import { publishSuiteRedis, redisServerInstalled, spawnRedisServer } from './redis-server';
import { STUCK_AFTER_MS } from './service-process';
import { SuiteServers, stopSuiteServers } from './suite-servers';
import { TEMPLATE_SUFFIX, testServerUrl } from './test-database';

/**
 * Builds the production build (the process tests run `node dist/src/main.js`, as operators do), starts a
 * throwaway embedded PostgreSQL (or uses DATABASE_URL, if it names a database made for tests) and builds a
 * migrated template database; each test file clones it into a database of its own. Starts the suite's own
 * redis-server on a free port for the tests that share budgets through Redis (never the machine's 6379).
 * The global teardown stops what this started; so does this, when it fails half-way.
 */
export default async function globalSetup(): Promise<void> {
  const root = join(__dirname, '..', '..');
  execFileSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
    { cwd: root, stdio: 'inherit' },
  );

  const servers: SuiteServers = {};
  (globalThis as { suiteServers?: SuiteServers }).suiteServers = servers;
  try {
    await startServers(servers);
    startObserving();
  } catch (error) {
    await stopSuiteServers(servers);
    throw error;
  }
}

async function startServers(servers: SuiteServers): Promise<void> {
  let baseUrl = process.env.DATABASE_URL;
  if (baseUrl) {
    const name = new URL(baseUrl).pathname.slice(1);
    if (!/_test$/.test(name)) {
      throw new Error(
        `Refusing to run tests against "${name}": DATABASE_URL must name a database ending in _test`,
      );
    }
  } else {
    const postgres = await startSuitePostgres('golden_ticket_test');
    servers.postgres = postgres;
    baseUrl = postgres.url;
  }
  process.env.TEST_DATABASE_URL = baseUrl;

  if (redisServerInstalled()) {
    const port = await freePort();
    const redis = await spawnRedisServer(port, STUCK_AFTER_MS);
    servers.redis = redis;
    // Not left running by a run that ends without its teardown (Ctrl-C).
    process.once('exit', () => redis.kill('SIGKILL'));
    publishSuiteRedis(`redis://127.0.0.1:${port}`);
  } else {
    publishSuiteRedis(undefined);
    process.stderr.write(
      '\nredis-server is not installed: the tests that need Redis will fail (apt-get install redis-server)\n',
    );
  }

  const template = `${new URL(baseUrl).pathname.slice(1)}${TEMPLATE_SUFFIX}`;
  const adminUrl = testServerUrl(baseUrl, 'postgres');
  const admin = knexFactory(buildKnexConfig({ url: adminUrl }));
  await admin.raw(`DROP DATABASE IF EXISTS "${template}"`);
  await admin.raw(`CREATE DATABASE "${template}"`);
  await admin.destroy();
  if (!servers.postgres) servers.template = { adminUrl, name: template };
  const knex = knexFactory(buildKnexConfig({ url: testServerUrl(baseUrl, template) }));
  await knex.migrate.latest();
  await knex.destroy();
}
