import { randomBytes } from 'node:crypto';
import knexFactory, { Knex } from 'knex';
import { buildKnexConfig } from '../../src/database/knex-config';

export const TEMPLATE_SUFFIX = '_template';

/** The same server as `url`, another database. */
export function testServerUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export interface TestDatabase {
  url: string;
  /** Drops it, closing whatever connections are still open to it. */
  drop(): Promise<void>;
}

/**
 * A fresh database for one test file: migrated (cloned from the template built by the global setup), or
 * empty when `migrated` is false.
 */
export async function createTestDatabase(migrated = true): Promise<TestDatabase> {
  const baseUrl = process.env.TEST_DATABASE_URL;
  if (!baseUrl) throw new Error('TEST_DATABASE_URL is unset: run the tests through jest');
  const base = new URL(baseUrl).pathname.slice(1);
  const name = `${base}_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory(
    buildKnexConfig({ url: testServerUrl(baseUrl, 'postgres'), poolMin: 0 }),
  );
  try {
    await admin.raw(
      migrated
        ? `CREATE DATABASE "${name}" TEMPLATE "${base}${TEMPLATE_SUFFIX}"`
        : `CREATE DATABASE "${name}"`,
    );
  } finally {
    await admin.destroy();
  }
  return {
    url: testServerUrl(baseUrl, name),
    drop: async () => {
      const dropper = knexFactory(
        buildKnexConfig({ url: testServerUrl(baseUrl, 'postgres'), poolMin: 0 }),
      );
      await dropper.raw(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await dropper.destroy();
    },
  };
}

export function connect(url: string): Knex {
  return knexFactory(buildKnexConfig({ url, poolMin: 0, poolMax: 4 }));
}
