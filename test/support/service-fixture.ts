import {
  STUCK_AFTER_MS,
  ServiceProcess,
  startService,
  waitUntil,
  waitUntilReady,
} from './service-process';
import { TestDatabase, createTestDatabase } from './test-database';

/** The production-build services of one test file, on the file's own database. */
export interface FileServices {
  /** The file's database (made by the file's first beforeAll). */
  readonly databaseUrl: string;
  /**
   * The production build on the file's database, `env` on top (DATABASE_URL too, for a proxy in between),
   * once it answers /health/ready — with WORKERS=n, once its n workers listen — or, with `ready: false`,
   * once it is live (a test that watches it become ready).
   */
  start(env?: Record<string, string>, options?: { ready?: boolean }): Promise<ServiceProcess>;
}

/**
 * A fresh database for this test file (migrated, or empty with `migrated: false`) and the services the file
 * starts on it. After the file's tests every service still running is stopped — SIGTERM, so it drains as in
 * production, bounded by its SHUTDOWN_GRACE_MS — and the database is dropped. Call it in a describe block.
 */
export function servicesOnFreshDatabase({ migrated = true } = {}): FileServices {
  let database: TestDatabase | undefined;
  const started: ServiceProcess[] = [];
  beforeAll(async () => {
    database = await createTestDatabase(migrated);
  });
  afterAll(async () => {
    await Promise.all(started.map((service) => service.stop()));
    await database?.drop();
  });
  const services: FileServices = {
    get databaseUrl() {
      if (!database)
        throw new Error('the file database is made in beforeAll: use it from a hook or a test');
      return database.url;
    },
    async start(env = {}, { ready = true } = {}) {
      const service = await startService({ DATABASE_URL: services.databaseUrl, ...env });
      started.push(service);
      if (!ready) return service;
      await waitUntilReady(service);
      const workers = Number(env.WORKERS ?? 1);
      if (workers > 1) {
        await waitUntil(
          () => Promise.resolve(listeningWorkers(service) >= workers),
          STUCK_AFTER_MS,
          () => `${service.url}: ${listeningWorkers(service)} of ${workers} workers listen`,
          service.exited,
        );
      }
      return service;
    },
  };
  return services;
}

/** How many cluster workers the primary has seen listen so far (replacements included). */
const listeningWorkers = (service: ServiceProcess) =>
  service.logs().filter((entry) => entry.msg === 'worker listening').length;
