import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataParent, freePort } from './support/embedded-server';
import { runUntilExit, startService, waitUntilReady } from './support/service-process';

const asRoot = process.getuid?.() === 0;

/**
 * The embedded default (`DATABASE_URL` unset) as operators run it: the production build starts its own
 * PostgreSQL in `EMBEDDED_PG_DIR`, drains like production on SIGTERM and only then stops it, touches no
 * folder it did not create, and says why when the server does not start.
 */
describe('the embedded default (DATABASE_URL unset)', () => {
  const folders: string[] = [];
  afterAll(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

  /** A temp folder of this test's own, with `mode`. */
  const folder = (mode: number) => {
    const created = dataParent(mode);
    folders.push(created);
    return created;
  };

  const embeddedEnv = async (dir: string) => ({
    DATABASE_URL: '',
    EMBEDDED_PG_DIR: dir,
    EMBEDDED_PG_PORT: String(await freePort()),
  });

  /** The production build's own settings for a start that must fail (runUntilExit adds no defaults). */
  const refusedStartEnv = { NODE_ENV: 'production', ADMIN_AUTH: 'disabled', PORT: '0' };

  it('leaves the mode of a shared parent folder alone (1777 stays 1777)', async () => {
    const shared = folder(0o1777);
    const service = await startService(await embeddedEnv(join(shared, 'pg')));
    try {
      await waitUntilReady(service);
      expect(statSync(shared).mode & 0o7777).toBe(0o1777);
      expect(await service.stop()).toBe(0);
    } finally {
      if (service.child.exitCode === null) service.child.kill('SIGKILL');
    }
  });

  if (asRoot) {
    it('refuses, naming the folder, a data folder the postgres user cannot reach, and changes no mode', async () => {
      const closed = folder(0o700);
      const { code, output } = await runUntilExit(
        { ...refusedStartEnv, ...(await embeddedEnv(join(closed, 'pg'))) },
        30_000,
      );
      expect(code).toBe(1);
      expect(output).toContain('Golden Ticket could not start');
      expect(output).toContain(`cannot enter ${closed} (mode 700`);
      expect(statSync(closed).mode & 0o7777).toBe(0o700);
    });
  } else {
    it('starts in a parent folder only its own user can enter, and changes no mode', async () => {
      const own = folder(0o700);
      const service = await startService(await embeddedEnv(join(own, 'pg')));
      try {
        await waitUntilReady(service);
        expect(await service.stop()).toBe(0);
      } finally {
        if (service.child.exitCode === null) service.child.kill('SIGKILL');
      }
      expect(statSync(own).mode & 0o7777).toBe(0o700);
    });
  }

  it("says why PostgreSQL did not start, in the server's own words", async () => {
    // An initialised-looking data folder whose configuration file PostgreSQL refuses to read.
    const dataDir = join(folder(0o755), 'pg');
    mkdirSync(dataDir, { mode: 0o755 });
    writeFileSync(join(dataDir, 'PG_VERSION'), '18\n');
    writeFileSync(join(dataDir, 'postgresql.conf'), 'this is not a setting\n');
    const { code, output } = await runUntilExit(
      { ...refusedStartEnv, ...(await embeddedEnv(dataDir)) },
      30_000,
    );
    expect(code).toBe(1);
    const { msg } = JSON.parse(output.trim().split('\n').at(-1)!) as { msg: string };
    expect(msg).toContain(`Golden Ticket could not start: the embedded PostgreSQL in ${dataDir}`);
    expect(msg).toContain(`syntax error in file "${dataDir}/postgresql.conf" line 1`);
    expect(msg).toContain(
      `FATAL:  configuration file "${dataDir}/postgresql.conf" contains errors`,
    );
  });
});
