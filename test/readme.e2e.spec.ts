import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPEN_NOW, createEvent } from './support/fixtures';
import { ServiceProcess, startService, waitUntilReady } from './support/service-process';
import { createTestDatabase } from './support/test-database';

const ROOT = join(__dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The first ```bash block after `marker` in the README, as written (a list item's indent removed). */
function blockAfter(marker: string): string {
  const from = README.indexOf(marker);
  expect(from).toBeGreaterThanOrEqual(0);
  const block = /^( *)```bash\n([\s\S]*?)^ *```$/m.exec(README.slice(from));
  if (!block) throw new Error(`no bash block after "${marker}"`);
  return block[2].replace(new RegExp(`^${block[1]}`, 'gm'), '');
}

interface Step {
  command: string;
  output: string;
}

/**
 * Runs `script` with bash, as a reader pasting it would, and returns each curl command with what it
 * printed. Bash names every command it runs (a DEBUG trap), so the output is split where the README's
 * commands are, however they are wrapped.
 */
function paste(script: string, env: Record<string, string> = {}): Step[] {
  // Bash prints each command between these before running it (a heredoc's lines included).
  const [open, close] = ['\u0001', '\u0002'];
  const run = spawnSync(
    'bash',
    ['-c', `trap 'printf "\\n${open}%s${close}\\n" "$BASH_COMMAND"' DEBUG\n${script}`],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ...env },
      input: '',
      timeout: 30_000,
    },
  );
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout
    .split(`\n${open}`)
    .slice(1)
    .map((chunk) => {
      const [command, output] = chunk.split(`${close}\n`);
      return { command, output };
    })
    .filter((step) => step.command.startsWith('curl '));
}

/** The block aimed at `service`: only `localhost:3000` becomes its port. */
const pasteable = (block: string, service: ServiceProcess) =>
  block.replaceAll('localhost:3000', `localhost:${new URL(service.url).port}`);

/** `METHOD /path` of a curl command as the README writes it. */
function requestOf(command: string): string {
  const method = /-X(\w+)/.exec(command)?.[1] ?? 'GET';
  const path = /localhost:\d+(\/\S*)/.exec(command)![1];
  return `${method} ${path}`;
}

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
    const steps = paste(pasteable(blockAfter('## The API in brief'), service));
    expect(steps.map((step) => requestOf(step.command))).toEqual([
      'POST /events',
      'POST /events/launch/tickets',
      'GET /events/launch',
      'GET /events',
      'GET /users/42/tickets',
      'PATCH /events/launch',
    ]);
    const [created, ticket, event, running, held, switched] = steps.map(
      (step) => JSON.parse(step.output) as Record<string, unknown>,
    );
    const now = Date.now();
    expect(created).toMatchObject({
      eventKey: 'launch',
      totalQuantity: 2000,
      remainingQuantity: 2000,
    });
    // Open from now until the end of next year, whatever day the README is pasted.
    expect(Date.parse(created.startAt as string)).toBeLessThanOrEqual(now);
    expect(Date.parse(created.endAt as string)).toBeGreaterThan(now + 365 * 24 * 3600 * 1000);
    expect(ticket).toMatchObject({ userId: 42, eventKey: 'launch' });
    expect(event).toMatchObject({ remainingQuantity: 1999, todayIssuedCount: 1, isActive: true });
    expect(running).toEqual([event]);
    expect(held).toEqual([
      {
        ticketId: ticket.ticketId,
        eventKey: 'launch',
        eventName: '런칭 이벤트',
        issuedAt: ticket.issuedAt,
      },
    ]);
    expect(switched).toMatchObject({ eventKey: 'launch', isActive: false });
  });

  it('the end-user token snippet signs a token that the service takes', async () => {
    const block = blockAfter('To try it, start the service with a secret');
    const secret = /^export USER_JWT_SECRET=(\S+)$/m.exec(block)![1];
    const service = await start({ USER_JWT_SECRET: secret });
    await createEvent(service.url, { eventKey: 'launch', ...OPEN_NOW });
    const steps = paste(pasteable(block, service));
    expect(steps.map((step) => requestOf(step.command))).toEqual(['POST /events/launch/tickets']);
    expect(JSON.parse(steps[0].output)).toMatchObject({ userId: 42, eventKey: 'launch' });
  });
});
