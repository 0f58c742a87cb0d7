import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { OPEN_NOW, createEvent, issue } from './support/fixtures';
import { parseExposition } from './support/exposition';
import { servicesOnFreshDatabase } from './support/service-fixture';
import type { ServiceProcess } from './support/service-process';

/** Units other than Prometheus' base units (seconds, bytes, ratios), as name segments. */
const NON_BASE_UNITS = new Set([
  'milliseconds',
  'microseconds',
  'nanoseconds',
  'ms',
  'us',
  'ns',
  'minutes',
  'hours',
  'days',
  'weeks',
  'kilobytes',
  'megabytes',
  'gigabytes',
  'kb',
  'mb',
  'gb',
  'bits',
  'percent',
]);

interface Family {
  name: string;
  type?: string;
  help?: string;
}

/** The metric families a scrape declares, by their # HELP and # TYPE lines. */
function familiesOf(text: string): Family[] {
  const families = new Map<string, Family>();
  for (const [, kind, name, rest] of text.matchAll(/^# (HELP|TYPE) (\S+) (.*)$/gm)) {
    const family = families.get(name) ?? { name };
    if (kind === 'TYPE') family.type = rest;
    else family.help = rest;
    families.set(name, family);
  }
  return [...families.values()];
}

/** What Prometheus' naming rules (promtool check metrics) say of one family; [] when it keeps them. */
function namingProblems({ name, type, help }: Family): string[] {
  const problems: string[] = [];
  if (!type) problems.push('no TYPE');
  if (!help) problems.push('no HELP');
  if (type === 'counter' && !name.endsWith('_total')) problems.push('a counter without _total');
  if (type !== 'counter' && name.endsWith('_total')) problems.push(`a ${type} named _total`);
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) problems.push('not snake_case');
  const units = name.split('_').filter((segment) => NON_BASE_UNITS.has(segment));
  if (units.length > 0) problems.push(`not in base units (${units.join(', ')})`);
  return problems.map((problem) => `${name}: ${problem}`);
}

/**
 * The scrape of the production build keeps Prometheus' naming rules — a CI gate running
 * `promtool check metrics` on it must pass — and its series do not grow with users, keys or URLs.
 */
describe('metric names and labels on a real scrape', () => {
  const services = servicesOnFreshDatabase();
  let service: ServiceProcess;
  let eventKey: string;

  beforeAll(async () => {
    service = await services.start();
    eventKey = (await createEvent(service.url, { totalQuantity: 1_000, ...OPEN_NOW })).eventKey;
  });

  const scrape = async () => {
    const response = await fetch(`${service.url}/metrics`);
    expect(response.status).toBe(200);
    return response.text();
  };

  /** Traffic with fresh users, keys and unknown paths: what must never become a label value. */
  async function distinctTraffic(): Promise<string[]> {
    const identities: string[] = [];
    for (let i = 0; i < 20; i++) {
      const userId = 1 + Math.floor(Math.random() * 1e12);
      const key = randomUUID();
      const path = `/no-such-route/${randomUUID()}`;
      identities.push(String(userId), key, path);
      await issue(service.url, eventKey, userId, key).expect(201);
      expect((await fetch(`${service.url}${path}`)).status).toBe(404);
    }
    return identities;
  }

  it('declares every family with HELP and TYPE, _total on counters only, in base units', async () => {
    await distinctTraffic();
    const families = familiesOf(await scrape());
    expect(families.length).toBeGreaterThan(20);
    expect(families.flatMap(namingProblems)).toEqual([]);
  });

  it('passes promtool check metrics, where promtool is installed (Debian: prometheus)', async () => {
    const text = await scrape();
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (promtool.error) {
      console.warn(
        `promtool not run (${promtool.error.message}): only the rules above were checked`,
      );
      return;
    }
    expect({ status: promtool.status, output: promtool.stdout + promtool.stderr }).toEqual({
      status: 0,
      output: '',
    });
  });

  it('keeps the same series however many users, keys and paths come by', async () => {
    const seriesOf = (text: string) =>
      new Set(
        parseExposition(text)
          // The event-loop and GC series come and go with what the process did; their labels are fixed.
          .filter((s) => !s.name.startsWith('nodejs_') && !s.name.startsWith('process_'))
          .map((s) => `${s.name}${JSON.stringify(s.labels)}`),
      );
    await distinctTraffic();
    const before = seriesOf(await scrape());
    const identities = await distinctTraffic();
    const after = await scrape();
    expect([...seriesOf(after)].filter((series) => !before.has(series))).toEqual([]);
    const values = new Set(parseExposition(after).flatMap((s) => Object.values(s.labels)));
    expect(identities.filter((identity) => values.has(identity))).toEqual([]);
  });
});
