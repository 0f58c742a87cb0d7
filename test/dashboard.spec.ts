/**
 * The `observability` compose profile (deploy/observability) checked against the service: every metric name
 * in the Grafana dashboard's PromQL (and in the README's example queries) is one a real scrape of GET
 * /metrics declares, Prometheus scrapes the route and port the app really serves, and Grafana's
 * provisioning (datasource uid, dashboard folder, ports) lines up with docker-compose.yml. No image is
 * pulled or run.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import request from 'supertest';
import { parse } from 'yaml';
import { createEvent, issue } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';

const ROOT = join(__dirname, '..');
const OBSERVABILITY = join(ROOT, 'deploy', 'observability');
const DASHBOARD_FILE = join(OBSERVABILITY, 'grafana', 'dashboards', 'golden-ticket.json');
const read = (path: string) => readFileSync(path, 'utf8');

// ---------------------------------------------------------------------------------------------------------
// PromQL: the metric names an expression selects.

/** PromQL's functions (Prometheus 3), and `start()`/`end()` of the `@` modifier. */
const FUNCTIONS = new Set([
  'abs',
  'absent',
  'absent_over_time',
  'acos',
  'acosh',
  'asin',
  'asinh',
  'atan',
  'atanh',
  'avg_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'cos',
  'cosh',
  'count_over_time',
  'day_of_month',
  'day_of_week',
  'day_of_year',
  'days_in_month',
  'deg',
  'delta',
  'deriv',
  'double_exponential_smoothing',
  'exp',
  'floor',
  'histogram_avg',
  'histogram_count',
  'histogram_fraction',
  'histogram_quantile',
  'histogram_stddev',
  'histogram_stdvar',
  'histogram_sum',
  'holt_winters',
  'hour',
  'idelta',
  'increase',
  'info',
  'irate',
  'label_join',
  'label_replace',
  'last_over_time',
  'ln',
  'log10',
  'log2',
  'mad_over_time',
  'max_over_time',
  'min_over_time',
  'minute',
  'month',
  'pi',
  'predict_linear',
  'present_over_time',
  'quantile_over_time',
  'rad',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sin',
  'sinh',
  'sort',
  'sort_by_label',
  'sort_by_label_desc',
  'sort_desc',
  'sqrt',
  'stddev_over_time',
  'stdvar_over_time',
  'sum_over_time',
  'tan',
  'tanh',
  'time',
  'timestamp',
  'vector',
  'year',
  'start',
  'end',
]);
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);
/** Keywords followed by a list of label names: `by (le)`, `on (instance)`, `group_left (x)`. */
const LABEL_LIST_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);
/** Keywords and literals that are not metric names either (`offset` is followed by a duration). */
const OTHER_KEYWORDS = new Set(['offset', 'bool', 'and', 'or', 'unless', 'atan2', 'inf', 'nan']);

/** The end (exclusive) of the bracketed block opening at `start`, strings inside skipped. */
function closing(text: string, start: number, open: string, close: string): number {
  let depth = 0;
  for (let i = start; i < text.length; i += 1) {
    const char = text[i];
    if (char === '"' || char === "'" || char === '`') {
      i = stringEnd(text, i) - 1;
    } else if (char === open) {
      depth += 1;
    } else if (char === close) {
      depth -= 1;
      if (depth === 0) return i + 1;
    }
  }
  throw new Error(`unbalanced ${open}${close} in: ${text}`);
}

/** The end (exclusive) of the string literal opening at `start`. */
function stringEnd(text: string, start: number): number {
  const quote = text[start];
  for (let i = start + 1; i < text.length; i += 1) {
    if (text[i] === '\\' && quote !== '`') i += 1;
    else if (text[i] === quote) return i + 1;
  }
  throw new Error(`unterminated string in: ${text}`);
}

/**
 * The metric names a PromQL expression selects: its identifiers that are not functions, aggregation
 * operators or keywords, not label names (inside `{...}` or after by/without/on/ignoring/group_left/
 * group_right), not durations (`[5m]`, `offset 1m`), numbers, strings or Grafana variables
 * (`$__rate_interval`, `${x}`). A `{__name__="x"}` selector names `x`. An identifier called like a
 * function that PromQL does not have is an error (a typo there would hide a metric name).
 */
function metricNames(expr: string): string[] {
  const names = new Set<string>();
  const nextNonSpace = (from: number): number => {
    let i = from;
    while (i < expr.length && /\s/.test(expr[i])) i += 1;
    return i;
  };
  let i = 0;
  while (i < expr.length) {
    const char = expr[i];
    const rest = expr.slice(i);
    if (/\s/.test(char)) {
      i += 1;
    } else if (char === '#') {
      const end = expr.indexOf('\n', i);
      i = end < 0 ? expr.length : end;
    } else if (char === '"' || char === "'" || char === '`') {
      i = stringEnd(expr, i);
    } else if (char === '{') {
      const end = closing(expr, i, '{', '}');
      const matchers = expr.slice(i, end);
      for (const match of matchers.matchAll(/__name__\s*=\s*(["'`])([^"'`]*)\1/g))
        names.add(match[2]);
      i = end;
    } else if (char === '[') {
      i = closing(expr, i, '[', ']');
    } else if (char === '$') {
      i += /^\$(\{[^}]*\}|\w+)/.exec(rest)?.[0].length ?? 1;
    } else if (/[0-9.]/.test(char)) {
      // Numbers (0.99, 1e3, 0x1f) and durations (5m, 1h30m).
      i += /^(0x[0-9a-f]+|[0-9.]+(e[+-]?\d+)?[a-z0-9]*)/i.exec(rest)![0].length;
    } else if (/[a-zA-Z_:]/.test(char)) {
      const identifier = /^[a-zA-Z_:][\w:]*/.exec(rest)![0];
      i += identifier.length;
      const next = nextNonSpace(i);
      if (LABEL_LIST_KEYWORDS.has(identifier)) {
        if (expr[next] === '(') i = closing(expr, next, '(', ')');
      } else if (AGGREGATIONS.has(identifier) && /^(by|without)\b/.test(expr.slice(next))) {
        // `sum by (le) (...)`: the grouping comes before the parenthesis.
      } else if (expr[next] === '(') {
        if (!FUNCTIONS.has(identifier) && !AGGREGATIONS.has(identifier)) {
          throw new Error(`not a PromQL function: ${identifier}( in: ${expr}`);
        }
      } else if (!OTHER_KEYWORDS.has(identifier.toLowerCase())) {
        names.add(identifier);
      }
    } else {
      i += 1;
    }
  }
  return [...names];
}

/** The series names a Prometheus text scrape declares: `# TYPE` lines, with a histogram's and summary's. */
function exposedNames(scrape: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of scrape.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    if (type === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    } else if (type === 'summary') {
      for (const suffix of ['', '_sum', '_count']) names.add(name + suffix);
    } else {
      names.add(name);
    }
  }
  return names;
}

/** The names of the sample lines of a scrape. */
function sampleNames(scrape: string): Set<string> {
  return new Set([...scrape.matchAll(/^([a-zA-Z_:][\w:]*)[{ ]/gm)].map((match) => match[1]));
}

/** Every (expression, name) whose name the scrape does not declare. */
function missingNames(
  exprs: string[],
  exposed: Set<string>,
): Array<{ expr: string; name: string }> {
  return exprs.flatMap((expr) =>
    metricNames(expr)
      .filter((name) => !exposed.has(name))
      .map((name) => ({ expr, name })),
  );
}

// ---------------------------------------------------------------------------------------------------------
// The dashboard JSON, the compose file and Grafana's provisioning.

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating?: { list: unknown[] };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr?: string; refId: string; datasource?: { type: string; uid: string } }>;
  panels?: Panel[];
}

const dashboard = JSON.parse(read(DASHBOARD_FILE)) as Dashboard;

/** Every panel, those inside (collapsed) rows included. */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

/** Every `expr` anywhere in the JSON (targets of panels, of nested rows, of anything else). */
function allExprs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(allExprs);
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === 'expr' && typeof value === 'string' ? [value] : allExprs(value),
  );
}

/** Every `datasource` object anywhere in the JSON. */
function allDatasources(node: unknown): Array<{ type?: string; uid?: string }> {
  if (Array.isArray(node)) return node.flatMap(allDatasources);
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === 'datasource' ? [value as { uid?: string }] : allDatasources(value),
  );
}

/** The PromQL blocks (```promql) of a Markdown file. */
function promqlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```promql\n([\s\S]*?)```/g)].map((match) => match[1].trim());
}

const compose = parse(read(join(ROOT, 'docker-compose.yml')));
const services = compose.services;

/** A service's bind mounts (short syntax) as container path -> path in the repository. */
function mounts(service: { volumes?: string[] }): Map<string, string> {
  return new Map(
    (service.volumes ?? []).map((entry) => {
      const [source, target] = entry.split(':');
      expect(source).toMatch(/^\.\//);
      return [target, join(ROOT, source)];
    }),
  );
}

/** The repository file a service sees at `path`, through its bind mounts (directories included). */
function hostPath(service: { volumes?: string[] }, path: string): string | undefined {
  for (const [target, source] of mounts(service)) {
    if (path === target) return source;
    if (path.startsWith(`${target}/`)) return join(source, posix.relative(target, path));
  }
  return undefined;
}

/** Published ports (short syntax, with or without a host address) as { published, target }. */
function portsOf(service: { ports?: string[] }) {
  return (service.ports ?? []).map((entry) => {
    const parts = String(entry).split(':');
    return { published: Number(parts[parts.length - 2]), target: Number(parts[parts.length - 1]) };
  });
}

/** A Prometheus duration in ms: `5s`, `1m30s`. */
function durationMs(value: string): number {
  expect(value).toMatch(/^(\d+(ms|s|m|h|d))+$/);
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+)(ms|s|m|h|d)/g)) {
    total += Number(amount) * units[unit];
  }
  return total;
}

const prometheus = services.prometheus;
const grafana = services.grafana;
const configFlag = (prometheus.command as string[]).find((arg) => arg.startsWith('--config.file='));
const prometheusConfigFile = hostPath(prometheus, configFlag!.split('=')[1])!;
const prometheusConfigText = read(prometheusConfigFile);
const prometheusConfig = parse(prometheusConfigText);
/** The parts of a Prometheus scrape job the test reads. */
interface ScrapeJob {
  job_name: string;
  scheme?: string;
  metrics_path?: string;
  scrape_interval?: string;
  scrape_timeout?: string;
  dns_sd_configs?: Array<{ names: string[]; type: string; port: number }>;
  static_configs?: unknown;
  authorization?: { type?: string; credentials_file?: string };
}
const scrapeJobs: ScrapeJob[] = prometheusConfig.scrape_configs;
const appJob = scrapeJobs.find((job) => job.job_name === 'golden-ticket')!;

/** Grafana's provisioning files of one kind (datasources, dashboards), read through its mounts. */
function provisioning(kind: string): Array<{
  datasources?: Array<{ type: string; uid?: string; url?: string; access?: string }>;
  providers?: Array<{ options: { path: string } }>;
}> {
  const dir = hostPath(grafana, `/etc/grafana/provisioning/${kind}`);
  expect(dir).toBeDefined();
  return readdirSync(dir!)
    .filter((file) => /\.ya?ml$/.test(file))
    .map((file) => parse(read(join(dir!, file))));
}
const datasources = provisioning('datasources').flatMap((file) => file.datasources ?? []);
const prometheusDatasource = datasources.find((source) => source.type === 'prometheus');

// ---------------------------------------------------------------------------------------------------------

describe('PromQL metric-name extraction', () => {
  it('keeps metric names, drops functions, aggregations, label names and values, durations, variables', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{route="/events/:eventKey/tickets", status_code=~"5.."}[$__rate_interval] offset 1m)))',
      ),
    ).toEqual(['http_request_duration_seconds_bucket']);
    expect(
      metricNames(
        'sum without (instance) (rate(a_total[5m:1m])) / on (job) group_left (outcome) b > bool 1e3 and c unless max(d) by (state) @ start() or Inf',
      ).sort(),
    ).toEqual(['a_total', 'b', 'c', 'd']);
    expect(metricNames('{__name__="golden_ticket_x", job="golden-ticket"}')).toEqual([
      'golden_ticket_x',
    ]);
    expect(metricNames('x{outcome="sold_out"} * on(instance) group_left y offset -5m')).toEqual([
      'x',
      'y',
    ]);
    expect(metricNames('label_replace(up, "route", "$1", "path", "(by|on) sum_x")')).toEqual([
      'up',
    ]);
  });

  it('refuses what it cannot read rather than miss a name', () => {
    expect(() => metricNames('rates(golden_ticket_issuance_requests_total[1m])')).toThrow(
      /not a PromQL function: rates/,
    );
    expect(() => metricNames('x{outcome="issued"')).toThrow(/unbalanced/);
  });
});

describe('deploy/observability/grafana/dashboards/golden-ticket.json', () => {
  const panels = allPanels(dashboard.panels);
  const queried = panels.filter((panel) => panel.type !== 'row' && panel.type !== 'text');
  const exprs = allExprs(dashboard);
  const names = new Set(exprs.flatMap(metricNames));

  it('is a recent Grafana dashboard with a fixed uid and title, panels in rows, ids unique', () => {
    expect(dashboard.uid).toBe('golden-ticket-drop');
    expect(dashboard.title).toBe('Golden Ticket — drop');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    const ids = panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(panels.some((panel) => panel.type === 'row' && (panel.panels ?? []).length > 0)).toBe(
      true,
    );
    for (const panel of panels) {
      expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
      expect(panel.title).toBeTruthy();
    }
  });

  it('every panel queries Prometheus through the provisioned datasource uid', () => {
    expect(prometheusDatasource?.uid).toBeTruthy();
    expect(queried.length).toBeGreaterThanOrEqual(10);
    for (const panel of queried) {
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.expr).toBeTruthy();
    }
    const uids = allDatasources(dashboard).map((source) => source.uid);
    expect(uids.length).toBeGreaterThan(exprs.length);
    expect(new Set(uids)).toEqual(new Set([prometheusDatasource!.uid]));
    for (const source of allDatasources(dashboard)) expect(source.type).toBe('prometheus');
  });

  it('shows what issue 12 asks for', () => {
    for (const name of [
      'golden_ticket_event_remaining_tickets',
      'golden_ticket_issuance_requests_total',
      'http_request_duration_seconds_bucket',
      'http_request_duration_seconds_count',
      'golden_ticket_throttled_requests_total',
      'nodejs_eventloop_lag_p99_seconds',
      'golden_ticket_db_pool_connections',
      'golden_ticket_issuance_batch_size_bucket',
      'golden_ticket_serialization_retries_total',
      'golden_ticket_issuance_queue_depth',
    ]) {
      expect(names).toContain(name);
    }
    const all = exprs.join('\n');
    expect(all).toContain('golden_ticket_issuance_requests_total{outcome="issued"}');
    expect(all).toMatch(/sum by \(outcome\) \(rate\(golden_ticket_issuance_requests_total\[/);
    expect(all).toMatch(/histogram_quantile\(0\.5, sum by \(le, [\w, ]*route/);
    expect(all).toMatch(/histogram_quantile\(0\.99, sum by \(le, [\w, ]*route/);
    expect(all).toContain('status_code="429"');
    expect(all).toContain('status_code="503"');
    expect(all).toContain('golden_ticket_db_pool_connections{state="pending"}');
  });

  it('a `job` matcher names a scrape job of prometheus.yml', () => {
    const jobs = new Set(scrapeJobs.map((job) => job.job_name));
    for (const [, job] of exprs.join('\n').matchAll(/\bjob\s*=\s*"([^"]*)"/g)) {
      expect(jobs).toContain(job);
    }
  });
});

describe('the dashboard against a real scrape of GET /metrics', () => {
  let t: TestApp;
  let scrape: string;
  let exposed: Set<string>;

  beforeAll(async () => {
    t = await startTestApp();
    // A little traffic, so the labelled series exist too: issued, already held, sold out, not found,
    // a keyed POST /events, an unknown path.
    const event = await createEvent(t.url, { totalQuantity: 1 });
    await issue(t.url, event.eventKey, 1).expect(201);
    await issue(t.url, event.eventKey, 1).expect(200);
    await issue(t.url, event.eventKey, 2).expect(409);
    await issue(t.url, 'no-such-event', 3).expect(404);
    await request(t.url)
      .post('/events')
      .set('Idempotency-Key', randomUUID())
      .send({ ...event, eventKey: `${event.eventKey}-keyed`, totalQuantity: 5 });
    await request(t.url).get('/no/such/path').expect(404);
    const response = await request(t.url).get('/metrics').expect(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    scrape = response.text;
    exposed = exposedNames(scrape);
  });
  afterAll(() => t?.close());

  it('declares every metric name the dashboard queries', () => {
    const exprs = allExprs(dashboard);
    expect(exprs.length).toBeGreaterThanOrEqual(20);
    expect(missingNames(exprs, exposed)).toEqual([]);
  });

  it("declares every metric name of the README's example queries", () => {
    const queries = promqlBlocks(read(join(OBSERVABILITY, 'README.md')));
    expect(queries.length).toBeGreaterThanOrEqual(2);
    expect(queries).toContain('golden_ticket_event_remaining_tickets');
    expect(missingNames(queries, exposed)).toEqual([]);
  });

  it("declares every metric name of the drop runbook's queries", () => {
    const queries = promqlBlocks(read(join(ROOT, 'docs', 'runbook.md')));
    expect(queries.length).toBeGreaterThanOrEqual(1);
    expect(queries[0]).toContain('golden_ticket_issuance_requests_total');
    expect(missingNames(queries, exposed)).toEqual([]);
  });

  it('reports a name the service does not expose (the check is not vacuous)', () => {
    expect(
      missingNames(
        [
          'sum(rate(golden_ticket_tickets_issued_total[1m]))',
          // A histogram is only its _bucket, _sum and _count series.
          'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds[1m])))',
          'sum by (outcome) (rate(golden_ticket_issuance_requests_total[1m]))',
        ],
        exposed,
      ).map(({ name }) => name),
    ).toEqual(['golden_ticket_tickets_issued_total', 'http_request_duration_seconds']);
  });

  it('the declared names are the series the scrape holds, and the traffic shows in them', () => {
    const samples = sampleNames(scrape);
    expect([...samples].filter((name) => !exposed.has(name))).toEqual([]);
    for (const name of [
      'http_request_duration_seconds_bucket',
      'golden_ticket_issuance_requests_total',
      'golden_ticket_issuance_batch_size_bucket',
      'golden_ticket_event_remaining_tickets',
      'golden_ticket_db_pool_connections',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(samples).toContain(name);
    }
    // The label values the dashboard and the README filter on.
    expect(scrape).toMatch(/^golden_ticket_issuance_requests_total\{outcome="issued"\} [1-9]/m);
    expect(scrape).toMatch(
      /^http_request_duration_seconds_bucket\{[^}]*route="\/events\/:eventKey\/tickets"/m,
    );
    expect(scrape).toMatch(/^golden_ticket_db_pool_connections\{state="pending"\} \d/m);
  });
});

describe('the observability profile in docker-compose.yml', () => {
  it('Prometheus and Grafana are pinned official images, only in the observability profile', () => {
    expect(prometheus.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(grafana.image).toMatch(/^grafana\/grafana-oss:\d+\.\d+\.\d+$/);
    expect(prometheus.profiles).toEqual(['observability']);
    expect(grafana.profiles).toEqual(['observability']);
    expect(services.app.profiles).toBeUndefined();
  });

  it('Prometheus scrapes GET /metrics on the app port of every replica, through Docker DNS', () => {
    const controller = read(join(ROOT, 'src', 'metrics', 'metrics.controller.ts'));
    const route = /@Controller\('([^']*)'\)/.exec(controller)?.[1];
    expect(controller).toMatch(/@Get\(\)/);
    expect(appJob.metrics_path).toBe(`/${route}`);
    expect(appJob.scheme ?? 'http').toBe('http');
    const appPort = Number(services.app.environment.PORT);
    expect(services.app.expose.map(Number)).toContain(appPort);
    expect(appJob.dns_sd_configs).toEqual([
      expect.objectContaining({ names: ['app'], type: 'A', port: appPort }),
    ]);
    // Every replica, not one at random through the lb.
    expect(appJob.static_configs).toBeUndefined();
    expect(JSON.stringify(appJob)).not.toMatch(/\blb\b/);
    const interval = durationMs(appJob.scrape_interval ?? prometheusConfig.global.scrape_interval);
    const timeout = durationMs(appJob.scrape_timeout ?? prometheusConfig.global.scrape_timeout);
    expect(interval).toBeLessThanOrEqual(15_000);
    expect(timeout).toBeLessThanOrEqual(interval);
  });

  it('the bearer token file, documented or in use, is in a directory mounted into Prometheus', () => {
    const documented = [...prometheusConfigText.matchAll(/credentials_file:\s*(\S+)/g)].map(
      (match) => match[1],
    );
    const inUse = appJob.authorization?.credentials_file;
    expect(documented.length).toBeGreaterThan(0);
    for (const file of [...documented, ...(inUse ? [inUse] : [])]) {
      const directory = hostPath(prometheus, posix.dirname(file));
      expect(directory).toBeDefined();
      expect(statSync(directory!).isDirectory()).toBe(true);
    }
    if (inUse) expect(appJob.authorization?.type ?? 'Bearer').toBe('Bearer');
  });

  it('Grafana on host port 3001, Prometheus on 9090, the datasource pointing at the prometheus service', () => {
    expect(portsOf(grafana)).toEqual([{ published: 3001, target: 3000 }]);
    expect(portsOf(prometheus)).toEqual([{ published: 9090, target: 9090 }]);
    expect(prometheusDatasource).toMatchObject({ access: 'proxy', url: 'http://prometheus:9090' });
    expect(grafana.depends_on).toHaveProperty('prometheus');
    expect(grafana.environment.GF_AUTH_ANONYMOUS_ENABLED).toBe('true');
    expect(grafana.environment.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe('Viewer');
  });

  it('Grafana provisions the dashboard JSON of the repository, and opens on it', () => {
    const providers = provisioning('dashboards').flatMap((file) => file.providers ?? []);
    expect(providers).toHaveLength(1);
    const folder = hostPath(grafana, providers[0].options.path);
    expect(folder).toBe(join(OBSERVABILITY, 'grafana', 'dashboards'));
    expect(readdirSync(folder!)).toContain('golden-ticket.json');
    const home = hostPath(grafana, grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH);
    expect(home).toBe(DASHBOARD_FILE);
    expect(existsSync(home!)).toBe(true);
  });
});
