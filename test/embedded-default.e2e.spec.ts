import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import { dataParent, freePort } from './support/embedded-server';
import { OPEN_NOW, eventBody } from './support/fixtures';
import { postJson } from './support/http-client';
import {
  STUCK_AFTER_MS,
  runUntilExit,
  startService,
  waitUntil,
  waitUntilReady,
} from './support/service-process';

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

  const refusesConnections = (port: number) =>
    new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.once('connect', () => socket.destroy() && resolve(false));
      socket.once('error', (error: NodeJS.ErrnoException) =>
        resolve(error.code === 'ECONNREFUSED'),
      );
    });

  it('drains on SIGTERM, then stops its PostgreSQL: a request during the drain is answered, exit 0', async () => {
    const parent = folder(0o755);
    const env = await embeddedEnv(join(parent, 'pg'));
    const service = await startService({ ...env, SHUTDOWN_READINESS_DELAY_MS: '2000' });
    try {
      await waitUntilReady(service);
      service.child.kill('SIGTERM');
      await waitUntil(
        async () => (await fetch(`${service.url}/health/ready`)).status === 503,
        STUCK_AFTER_MS,
        () => `readiness did not turn 503 while draining:\n${service.lines.slice(-20).join('\n')}`,
        service.exited,
      );
      // Served while draining, with its database: a write.
      const created = await request(service.url).post('/events').send(eventBody(OPEN_NOW));
      expect(created.status).toBe(201);
      expect(created.headers.connection).toBe('close');
      expect(await service.exited).toBe(0);
      expect(service.logs()).toContainEqual(expect.objectContaining({ msg: 'issuance totals' }));
      // Stopped after the drain, and cleanly: a server that is killed leaves its postmaster.pid behind.
      expect(await refusesConnections(Number(env.EMBEDDED_PG_PORT))).toBe(true);
      expect(existsSync(join(parent, 'pg', 'postmaster.pid'))).toBe(false);
    } finally {
      if (service.child.exitCode === null) service.child.kill('SIGKILL');
    }
  });

  it('drains the same way on Ctrl-C (SIGINT to the whole process group): PostgreSQL is not in that group', async () => {
    const env = await embeddedEnv(join(folder(0o755), 'pg'));
    const service = await startService(env, { ownProcessGroup: true });
    try {
      await waitUntilReady(service);
      const event = eventBody({ ...OPEN_NOW, totalQuantity: 1_000_000 });
      await request(service.url).post('/events').send(event).expect(201);
      const tickets = `${service.url}/events/${event.eventKey}/tickets`;
      // Clients on connections of their own, until the server no longer takes connections.
      const statuses: number[] = [];
      const refused: string[] = [];
      const client = async (firstUserId: number) => {
        for (let userId = firstUserId; ; userId++) {
          try {
            statuses.push((await postJson(tickets, { userId }, false)).status);
          } catch (error) {
            refused.push((error as NodeJS.ErrnoException).code ?? String(error));
            return;
          }
        }
      };
      const clients = Array.from({ length: 8 }, (_, i) => client(i * 1_000_000 + 1));
      await waitUntil(
        () => Promise.resolve(statuses.length >= 100),
        STUCK_AFTER_MS,
        () => `the clients got ${statuses.length} answers`,
      );
      process.kill(-service.child.pid!, 'SIGINT');
      await Promise.all(clients);

      expect(await service.exited).toBe(0);
      // Every answer came from a live database, and every ticket issued was answered.
      expect(statuses.filter((status) => status !== 201)).toEqual([]);
      const totals = service.logs().find((entry) => entry.msg === 'issuance totals');
      expect(totals).toMatchObject({ issuanceTotals: { issued: statuses.length } });
      // A connection the server no longer took (never a request it dropped: the totals say so).
      expect(refused.filter((code) => code !== 'ECONNREFUSED' && code !== 'ECONNRESET')).toEqual(
        [],
      );
      expect(await refusesConnections(Number(env.EMBEDDED_PG_PORT))).toBe(true);
    } finally {
      if (service.child.exitCode === null) process.kill(-service.child.pid!, 'SIGKILL');
    }
  });

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
        STUCK_AFTER_MS,
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
      STUCK_AFTER_MS,
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
