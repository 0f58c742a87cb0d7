import { OPEN_NOW, createEvent } from './support/fixtures';
import { ServiceProcess, startService, waitUntilReady } from './support/service-process';
import { createTestDatabase } from './support/test-database';
import { expectApiInBriefAnswers } from './support/api-in-brief';
import { bashBlockAfter, paste, pasteable, requestOf } from './support/pasted-blocks';

/**
 * The README's commands are pasted by newcomers as they are: each block runs here verbatim against the
 * production build (only the port changes), and every answer is checked, so the README cannot rot (a
 * period in the past once made the first ticket request a 400).
 */
describe('the README, pasted', () => {
  const databases: Array<Awaited<ReturnType<typeof createTestDatabase>>> = [];
  const services: ServiceProcess[] = [];

  /** The service as `npm start` runs it (development), on a database of its own. */
  async function start(env: Record<string, string> = {}): Promise<ServiceProcess> {
    const database = await createTestDatabase();
    databases.push(database);
    const service = await startService({
      DATABASE_URL: database.url,
      NODE_ENV: 'development',
      ...env,
    });
    services.push(service);
    await waitUntilReady(service);
    return service;
  }

  afterAll(async () => {
    await Promise.all(services.map((service) => service.stop()));
    await Promise.all(databases.map((database) => database.drop()));
  });

  it('"The API in brief" answers every command as its comment says', async () => {
    const service = await start();
    expectApiInBriefAnswers(service.url);
  });

  it('the end-user token snippet of docs/security.md signs a token that the service takes', async () => {
    const block = bashBlockAfter('docs/security.md', 'To try it, start the service with a secret');
    const secret = /^export USER_JWT_SECRET=(\S+)$/m.exec(block)![1];
    const service = await start({ USER_JWT_SECRET: secret });
    await createEvent(service.url, { eventKey: 'launch', ...OPEN_NOW });
    const steps = paste(pasteable(block, service.url));
    expect(steps.map((step) => requestOf(step.command))).toEqual(['POST /events/launch/tickets']);
    expect(JSON.parse(steps[0].output)).toMatchObject({ userId: 42, eventKey: 'launch' });
  });
});
