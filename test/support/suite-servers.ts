import type { ChildProcess } from 'node:child_process';
import knexFactory from 'knex';
import { buildKnexConfig } from '../../src/database/knex-config';

/** What the global setup started or made for the whole suite, for the global teardown to take away. */
export interface SuiteServers {
  /** The throwaway embedded PostgreSQL (none when DATABASE_URL names a server of the user's). */
  postgres?: { remove(): Promise<void> };
  /** On a server of the user's: the template database, dropped after the run (test files drop their own). */
  template?: { adminUrl: string; name: string };
  redis?: ChildProcess;
}

export async function stopSuiteServers(servers: SuiteServers): Promise<void> {
  const redis = servers.redis;
  if (redis && redis.exitCode === null && redis.signalCode === null) {
    const exited = new Promise((resolve) => redis.once('exit', resolve));
    redis.kill('SIGKILL');
    await exited;
  }
  if (servers.template) {
    const admin = knexFactory(buildKnexConfig({ url: servers.template.adminUrl, poolMin: 0 }));
    try {
      await admin.raw(`DROP DATABASE IF EXISTS "${servers.template.name}" WITH (FORCE)`);
    } finally {
      await admin.destroy();
    }
  }
  await servers.postgres?.remove();
}
