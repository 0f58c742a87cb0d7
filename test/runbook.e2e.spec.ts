import { bashBlocks, paste, pasteable, requestOf } from './support/pasted-blocks';
import { servicesOnFreshDatabase } from './support/service-fixture';
import { STUCK_AFTER_MS, ServiceProcess, waitUntil } from './support/service-process';

const ADMIN_TOKEN = 'runbook-admin-token-0123456789abcdef';
const METRICS_TOKEN = 'runbook-metrics-token-0123456789abcdef';

/**
 * docs/runbook.md is what an operator pastes on the night of a drop: every bash block of it runs here, in
 * order and in one shell, against the production build in its production posture (tokens required), and
 * what each command prints is checked.
 */
describe('the drop runbook, pasted', () => {
  const services = servicesOnFreshDatabase();
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await services.start({
      NODE_ENV: 'production',
      ADMIN_AUTH: 'token',
      ADMIN_TOKEN,
      METRICS_TOKEN,
      // The production defaults, not the test harness's: the warm-up must work under them.
      THROTTLE_IP_LIMIT: '100',
      THROTTLE_USER_LIMIT: '10',
    });
  });

  it('runs every command as written, and each prints what the text says', async () => {
    const steps = paste(
      pasteable(bashBlocks('docs/runbook.md'), service.url),
      { ADMIN_TOKEN, METRICS_TOKEN, DATABASE_URL: services.databaseUrl },
      ['curl ', 'psql ', 'uniq ', 'grep '],
    );
    const output = (request: string) =>
      steps.filter(
        (step) => step.command.startsWith('curl ') && requestOf(step.command) === request,
      );

    expect(JSON.parse(output('GET /health/ready')[0].output)).toMatchObject({ status: 'ok' });

    const created = JSON.parse(output('POST /events')[0].output);
    expect(created).toMatchObject({
      eventKey: 'winter-drop',
      totalQuantity: 1000,
      remainingQuantity: 1000,
    });
    expect(Date.parse(created.startAt)).toBeGreaterThan(Date.now());
    expect(JSON.parse(output('GET /events/$EVENT')[0].output)).toMatchObject({
      eventKey: 'winter-drop',
      isActive: false,
      remainingQuantity: 1000,
    });

    // The warm-up: one ticket, then sold out for everyone else.
    const counts = steps.find((step) => step.command.startsWith('uniq '))!.output;
    expect(
      counts
        .trim()
        .split('\n')
        .map((line) => line.trim()),
    ).toEqual(['1 201', '299 409']);

    // A pipeline's output comes after its last command.
    const metrics = steps.find((step) => step.command.startsWith('grep '))!.output;
    expect(metrics).toMatch(/^golden_ticket_issuance_requests_total\{outcome="sold_out"\} 299$/m);
    expect(metrics).toMatch(/^golden_ticket_db_pool_connections\{state="pending"\} \d+$/m);

    const patches = output('PATCH /events/$EVENT').map((step) => step.output.trim());
    expect(patches).toHaveLength(4);
    const [corrected, off, on] = patches.slice(0, 3).map((text) => JSON.parse(text));
    expect(corrected).toMatchObject({ eventKey: 'winter-drop', totalQuantity: 1200 });
    expect([off.isActive, on.isActive]).toEqual([false, false]); // switched on again, not yet open
    expect(patches[3]).toBe('200');

    // The audit lines the text promises: the creation and the correction, with the token's fingerprint
    // (log lines are written asynchronously: wait for them).
    const audit = () => service.logs().filter((line) => line.context === 'Audit');
    await waitUntil(
      () => Promise.resolve(audit().some((line) => line.msg === 'event corrected')),
      STUCK_AFTER_MS,
      () => `no audit line for the correction:\n${service.lines.slice(-10).join('\n')}`,
    );
    expect(audit().map((line) => line.msg)).toEqual(
      expect.arrayContaining(['event created', 'event corrected']),
    );
    expect(audit()[0]).toMatchObject({ audit: { actor: expect.stringMatching(/^[0-9a-f]{8}$/) } });

    const psql = steps
      .filter((step) => step.command.startsWith('psql '))
      .map((step) => step.output);
    expect(psql[0].split('\n')).toEqual([
      'event_key total_quantity issued_count tickets holders',
      'winter-drop 1200 0 0 0',
      '(1 row)',
      '',
    ]);
    expect(psql[1].split('\n')[0]).toBe('kst_day issued_count daily_limit');
    expect(psql[2].split('\n')[0]).toBe('expired kept oldest last_sweep');
    expect(Number(psql[2].split('\n')[1].split(' ')[1])).toBeGreaterThanOrEqual(1);
  });
});
