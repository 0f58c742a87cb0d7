/**
 * The deployment files (docker-compose.yml and docker-compose.production.yml as Compose loads them,
 * deploy/nginx/nginx.conf, deploy/k8s/*.yaml) checked against the service itself: its configuration as
 * loadConfig() reads it from the environment each file sets, its health routes, its error shape and the
 * Dockerfile. No image is pulled or run; what can drift is caught here.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PayloadTooLargeException } from '@nestjs/common';
import Fastify from 'fastify';
import pino from 'pino';
import { parse, parseAllDocuments } from 'yaml';
import { AppConfig, loadConfig } from '../src/config/config';
import { ServiceUnavailableError } from '../src/common/errors/domain-errors';
import { toErrorResponse } from '../src/common/errors/error-response';
import { httpServerOptions } from '../src/http/http-server';
import {
  ComposeService,
  containerEnvironment,
  dockerfile,
  interpolate,
  loadCompose,
  publishedPorts,
} from './support/compose';

const ROOT = join(__dirname, '..');
const K8S_DIR = join(ROOT, 'deploy', 'k8s');
const read = (...path: string[]) => readFileSync(join(ROOT, ...path), 'utf8');

/** Settings that are secrets: only ever from the Secret (Kubernetes) or the compose file's own stack. */
const SECRET_SETTINGS = ['DATABASE_URL', 'REDIS_URL', 'ADMIN_TOKEN', 'METRICS_TOKEN'];
const SECRET_NAME = 'golden-ticket';
/** Margin between the app's own shutdown bound and the orchestrator's SIGKILL. */
const KILL_MARGIN_SECONDS = 5;
/** PostgreSQL's default max_connections (postgres:16-alpine in compose, and most managed servers). */
const POSTGRES_MAX_CONNECTIONS = 100;
/** Connections a replica holds besides its pool: the readiness probe's own, and the migration lock's. */
const EXTRA_CONNECTIONS_PER_REPLICA = 2;
/** The replica count deploy/README.md documents for compose (`--scale app=3`). */
const COMPOSE_SCALE = 3;
/** Variables the service does not read but that are legitimately set for it. */
const NON_SERVICE_SETTINGS = ['NODE_OPTIONS'];

// ---------------------------------------------------------------------------------------------------------
// The service's side: configuration, routes, Dockerfile.

/** The variable names the service reads: the keys of config.ts' joi schema. */
function serviceSettings(): Set<string> {
  const source = read('src', 'config', 'config.ts');
  const names = [...source.matchAll(/^ {2}([A-Z][A-Z0-9_]*): Joi\./gm)].map((match) => match[1]);
  expect(names.length).toBeGreaterThan(20);
  return new Set(names);
}

/** The metrics route as its Nest controller declares it. */
function metricsRoute(): string {
  const prefix = /@Controller\('([^']*)'\)/.exec(
    read('src', 'metrics', 'metrics.controller.ts'),
  )?.[1];
  expect(prefix).toBeDefined();
  return `/${prefix}`;
}

/** The health routes as the Nest controller declares them (no global prefix anywhere). */
function healthRoutes(): Set<string> {
  const source = read('src', 'health', 'health.controller.ts');
  const prefix = /@Controller\('([^']*)'\)/.exec(source)?.[1];
  expect(prefix).toBeDefined();
  const paths = [...source.matchAll(/@Get\('([^']*)'\)/g)].map((match) => `/${prefix}/${match[1]}`);
  for (const file of [
    ['src', 'app.setup.ts'],
    ['src', 'main.ts'],
  ]) {
    expect(read(...file)).not.toMatch(/setGlobalPrefix|enableVersioning/);
  }
  return new Set(paths);
}

// ---------------------------------------------------------------------------------------------------------
// Units.

/** A compose duration: `20s`, `1m30s`, `1500ms`. */
function composeDurationMs(value: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001 };
  expect(value).toMatch(/^(\d+(\.\d+)?(h|m|s|ms|us))+$/);
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)) {
    total += Number(amount) * units[unit];
  }
  return total;
}

/** An nginx time: `60s`, `2m`, `500ms`, or bare seconds. */
function nginxTimeMs(value: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(value);
  if (!match) throw new Error(`not an nginx time: ${value}`);
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  return Number(match[1]) * units[match[2] ?? 's'];
}

/** An nginx size: `32k`, `1m`, or bare bytes. */
function nginxSizeBytes(value: string): number {
  const match = /^(\d+)([kKmMgG])?$/.exec(value);
  if (!match) throw new Error(`not an nginx size: ${value}`);
  const units: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  return Number(match[1]) * (match[2] ? units[match[2].toLowerCase()] : 1);
}

/** A Kubernetes CPU quantity in cores: `500m`, `1`, `1.5`. */
function cpuCores(value: string | number): number {
  const text = String(value);
  return text.endsWith('m') ? Number(text.slice(0, -1)) / 1000 : Number(text);
}

/** A Kubernetes memory quantity in bytes: `512Mi`, `1Gi`, `500M`, bytes. */
function memoryBytes(value: string | number): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(value));
  if (!match) throw new Error(`not a memory quantity: ${value}`);
  const units: Record<string, number> = {
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Number(match[1]) * (match[2] ? units[match[2]] : 1);
}

// ---------------------------------------------------------------------------------------------------------
// nginx.conf: a small parser into directives and blocks.

interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
}

function parseNginx(text: string): Directive[] {
  const tokens: Array<{ value: string; quoted: boolean }> = [];
  let i = 0;
  while (i < text.length) {
    const char = text[i];
    if (/\s/.test(char)) {
      i += 1;
    } else if (char === '#') {
      while (i < text.length && text[i] !== '\n') i += 1;
    } else if (char === '{' || char === '}' || char === ';') {
      tokens.push({ value: char, quoted: false });
      i += 1;
    } else if (char === '"' || char === "'") {
      let value = '';
      i += 1;
      while (i < text.length && text[i] !== char) {
        if (text[i] === '\\') i += 1;
        value += text[i];
        i += 1;
      }
      if (i >= text.length) throw new Error('unterminated string in nginx.conf');
      tokens.push({ value, quoted: true });
      i += 1;
    } else {
      let value = '';
      while (i < text.length && !/[\s;{}]/.test(text[i])) value += text[i++];
      tokens.push({ value, quoted: false });
    }
  }
  let position = 0;
  const parseBlock = (nested: boolean): Directive[] => {
    const directives: Directive[] = [];
    let words: string[] = [];
    while (position < tokens.length) {
      const token = tokens[position++];
      if (!token.quoted && token.value === ';') {
        directives.push({ name: words[0], args: words.slice(1) });
        words = [];
      } else if (!token.quoted && token.value === '{') {
        directives.push({ name: words[0], args: words.slice(1), block: parseBlock(true) });
        words = [];
      } else if (!token.quoted && token.value === '}') {
        if (!nested || words.length > 0) throw new Error('unbalanced } in nginx.conf');
        return directives;
      } else {
        words.push(token.value);
      }
    }
    if (nested || words.length > 0) throw new Error('unterminated block in nginx.conf');
    return directives;
  };
  return parseBlock(false);
}

const all = (block: Directive[] | undefined, name: string) =>
  (block ?? []).filter((directive) => directive.name === name);

function one(block: Directive[] | undefined, name: string, ...firstArgs: string[]): Directive {
  const found = all(block, name).filter((directive) =>
    firstArgs.every((arg, index) => directive.args[index] === arg),
  );
  if (found.length !== 1) {
    throw new Error(`expected one "${[name, ...firstArgs].join(' ')}", found ${found.length}`);
  }
  return found[0];
}

/** `proxy_set_header NAME value` in a block, by header name (case-insensitive). */
function proxyHeader(block: Directive[] | undefined, header: string): string | undefined {
  return all(block, 'proxy_set_header').find(
    (directive) => directive.args[0].toLowerCase() === header.toLowerCase(),
  )?.args[1];
}

// ---------------------------------------------------------------------------------------------------------
// Kubernetes shapes (as far as the checks read them).

interface Probe {
  httpGet: { path: string; port: string | number };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Container {
  name: string;
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: {
    requests?: Record<string, string | number>;
    limits?: Record<string, string | number>;
  };
  securityContext?: { allowPrivilegeEscalation?: boolean; runAsNonRoot?: boolean };
}
interface Deployment {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    strategy: {
      type: string;
      rollingUpdate: { maxUnavailable: number | string; maxSurge: number | string };
    };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        containers: Container[];
      };
    };
  };
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** Every document of every deploy/k8s/*.yaml, with the file it came from. */
function k8sManifests(): Array<{ file: string; manifest: Manifest }> {
  const files = readdirSync(K8S_DIR).filter((file) => /\.ya?ml$/.test(file));
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8')).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.join('; ')}`);
      return { file, manifest: document.toJS() as Manifest };
    }),
  );
}

function manifestOf<T>(kind: string, file?: string): T {
  const found = k8sManifests().filter(
    (entry) => entry.manifest.kind === kind && (file === undefined || entry.file === file),
  );
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0].manifest as unknown as T;
}

const isSubset = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([key, value]) => labels[key] === value);

// ---------------------------------------------------------------------------------------------------------

/** An admin token as an operator would put it in .env. */
const TOKEN = 'admin-token-0123456789abcdef';

/**
 * The two ways the compose stack runs: as the assignment types it, with no .env (the local evaluation
 * stack: published on loopback, administration open), and with the production file and a token in .env.
 */
const POSTURES: Array<{
  posture: string;
  files: string[];
  dotenv: Record<string, string>;
  /** Where lb publishes port 3000: undefined is every interface. */
  hostIp: string | undefined;
  adminAuth: 'token' | 'disabled';
}> = [
  {
    posture: 'docker compose up, no .env',
    files: ['docker-compose.yml'],
    dotenv: {},
    hostIp: '127.0.0.1',
    adminAuth: 'disabled',
  },
  {
    posture: 'the production file, ADMIN_TOKEN in .env',
    files: ['docker-compose.yml', 'docker-compose.production.yml'],
    dotenv: { ADMIN_TOKEN: TOKEN },
    hostIp: undefined,
    adminAuth: 'token',
  },
];

describe.each(POSTURES)('$posture: the compose files and deploy/nginx/nginx.conf', (posture) => {
  const { model, warnings } = loadCompose(posture.files, posture.dotenv);
  const services = model.services;
  const app = services.app;
  const lb = services.lb;
  const k6 = services.k6 as ComposeService & { environment: Record<string, string> };
  const nginxText = read('deploy', 'nginx', 'nginx.conf');
  const nginx = parseNginx(nginxText);
  const http = one(nginx, 'http').block;
  const server = one(http, 'server').block;
  const location = one(server, 'location', '/').block;
  const upstreamName = /^http:\/\/([\w.-]+)$/.exec(one(location, 'proxy_pass').args[0])?.[1];
  const upstream = one(http, 'upstream', upstreamName ?? '?').block;

  /** The app container's environment: the image's ENV, .env, then compose's `environment`. */
  const composeEnv = () => containerEnvironment(app, posture.dotenv);
  const config: AppConfig = loadConfig(composeEnv());

  it('loads as Compose loads it (the Compose Specification schema), without a variable warning', () => {
    expect(warnings).toEqual([]);
  });

  it(`administration: ADMIN_AUTH=${posture.adminAuth}, lb published on ${posture.hostIp ?? 'every interface'}`, () => {
    expect(config.nodeEnv).toBe('production');
    expect(config.adminAuth).toBe(posture.adminAuth);
    expect(config.adminToken).toBe(posture.adminAuth === 'token' ? TOKEN : undefined);
    expect(publishedPorts(lb).map((port) => port.host_ip)).toEqual([posture.hostIp]);
    // The k6 scripts authenticate exactly when the app wants a token.
    expect(k6.environment.ADMIN_TOKEN).toBe(config.adminToken ?? '');
  });

  it('says which Compose it needs: env_file with path and required is Compose >= 2.24', () => {
    const longForm = (app.env_file ?? []).some(
      (entry: unknown) => typeof entry === 'object' && entry !== null && 'required' in entry,
    );
    expect(longForm).toBe(true);
    for (const file of [['README.md'], ['deploy', 'README.md'], ['docker-compose.yml']]) {
      expect([file.join('/'), /Compose (?:>= |≥ )?2\.24/.test(read(...file))]).toEqual([
        file.join('/'),
        true,
      ]);
    }
    // `!override` (the production file's ports) is Compose >= 2.24.4.
    for (const file of [['deploy', 'README.md'], ['docker-compose.production.yml']]) {
      expect([file.join('/'), /Compose (?:>= |≥ )?2\.24\.4/.test(read(...file))]).toEqual([
        file.join('/'),
        true,
      ]);
    }
  });

  it('app can be scaled: no host port, no container_name, only an internal port equal to PORT', () => {
    expect(app.ports).toBeUndefined();
    expect(app.container_name).toBeUndefined();
    for (const port of app.expose ?? []) expect(Number(port)).toBe(config.port);
    expect(dockerfile().expose).toContain(config.port);
  });

  it('keeps PostgreSQL, Redis (healthy before the app), the optional .env and the k6 profile', () => {
    expect(services.postgres.healthcheck).toBeDefined();
    expect(services.redis.healthcheck).toBeDefined();
    expect(app.depends_on).toMatchObject({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    });
    expect(app.env_file).toEqual([{ path: '.env', required: false }]);
    expect(services.k6.profiles).toEqual(['loadtest']);
  });

  it('the app env is valid configuration, every variable is one the service reads', () => {
    const known = serviceSettings();
    const unknown = Object.keys(composeEnv()).filter(
      (name) => !known.has(name) && !NON_SERVICE_SETTINGS.includes(name),
    );
    expect(unknown).toEqual([]);
    expect(config.database.url).toMatch(/@postgres:5432\//);
    expect(config.throttle.redisUrl).toMatch(/^redis:\/\/redis:6379/);
  });

  it('TRUST_PROXY is 1 (nginx, the one proxy) and WORKERS is 1 (scale with replicas)', () => {
    expect(app.environment?.TRUST_PROXY).toBe('1');
    expect(config.trustProxy).toBe(1);
    expect(app.environment?.WORKERS).toBe('1');
  });

  it('lb is nginx >= 1.27.3 publishing 3000 onto its listen port, with this nginx.conf', () => {
    const tag = /^nginx:(\d+)\.(\d+)(?:\.(\d+))?(-[\w.-]+)?$/.exec(lb.image ?? '');
    expect(tag).not.toBeNull();
    const [major, minor, patch] = [tag![1], tag![2], tag![3] ?? '0'].map(Number);
    expect(major * 1e6 + minor * 1e3 + patch).toBeGreaterThanOrEqual(1_027_003);
    const listen = Number(one(server, 'listen').args[0]);
    expect(publishedPorts(lb)).toEqual([
      { host_ip: posture.hostIp, published: 3000, target: listen },
    ]);
    expect(lb.volumes).toContain('./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro');
    expect(lb.depends_on).toMatchObject({ app: { condition: 'service_healthy' } });
  });

  it('health checks and the k6 target go through existing routes and the lb port', () => {
    const routes = healthRoutes();
    const listen = Number(one(server, 'listen').args[0]);
    const lbCheck = (lb.healthcheck?.test as string[]).join(' ');
    const lbUrl = /http:\/\/127\.0\.0\.1:(\d+)(\/\S*)/.exec(lbCheck);
    expect(Number(lbUrl?.[1])).toBe(listen);
    expect(routes).toContain(lbUrl?.[2]);
    const imageCheck = /HEALTHCHECK[\s\S]*?'(\/health\/\w+)'/.exec(read('Dockerfile'))?.[1];
    expect(routes).toContain(imageCheck);
    expect(k6.environment.BASE_URL).toBe(`http://lb:${listen}`);
    expect(k6.depends_on).toHaveProperty('lb');
  });

  it('stop_grace_period outlasts SHUTDOWN_GRACE_MS', () => {
    expect(config.shutdownReadinessDelayMs).toBeLessThan(config.shutdownGraceMs);
    expect(composeDurationMs(app.stop_grace_period ?? '')).toBeGreaterThan(config.shutdownGraceMs);
  });

  it('nginx re-resolves every replica of the app service through Docker DNS', () => {
    const servers = all(upstream, 'server');
    expect(servers).toHaveLength(1);
    const [host, port] = servers[0].args[0].split(':');
    expect(Object.keys(services)).toContain(host);
    expect(host).toBe('app');
    expect(Number(port)).toBe(config.port);
    expect(servers[0].args).toContain('resolve');
    expect(one(upstream, 'zone').args[0]).toBeTruthy();
    const resolvers = [...all(http, 'resolver'), ...all(upstream, 'resolver')];
    expect(resolvers).toHaveLength(1);
    expect(resolvers[0].args[0]).toBe('127.0.0.11');
  });

  it('upstream keepalive: HTTP/1.1, no Connection header, closed before the app closes it', () => {
    expect(Number(one(upstream, 'keepalive').args[0])).toBeGreaterThan(0);
    expect(one(location, 'proxy_http_version').args).toEqual(['1.1']);
    expect(proxyHeader(location, 'Connection')).toBe('');
    const idle = nginxTimeMs(one(upstream, 'keepalive_timeout').args[0]);
    expect(idle).toBeLessThan(config.http.keepAliveTimeoutMs);
  });

  it('bodies: nginx lets through at least BODY_LIMIT_BYTES, so the app answers its own 413', () => {
    const limit = nginxSizeBytes(one(server, 'client_max_body_size').args[0]);
    expect(limit).toBeGreaterThan(0); // 0 would mean unlimited
    expect(limit).toBeGreaterThanOrEqual(config.bodyLimitBytes);
  });

  it('timeouts: headers no slower than the app allows, answers waited for past the app deadlines', () => {
    const headers = nginxTimeMs(one(server, 'client_header_timeout').args[0]);
    expect(headers).toBeLessThanOrEqual(config.http.headersTimeoutMs);
    const answer = nginxTimeMs(one(location, 'proxy_read_timeout').args[0]);
    expect(answer).toBeGreaterThan(
      config.database.acquireTimeoutMs + config.database.queryTimeoutMs,
    );
    expect(nginxTimeMs(one(location, 'proxy_connect_timeout').args[0])).toBeLessThanOrEqual(5_000);
  });

  it('never resends a POST that reached a replica to another one', () => {
    for (const directive of [
      ...all(http, 'proxy_next_upstream'),
      ...all(server, 'proxy_next_upstream'),
      ...all(location, 'proxy_next_upstream'),
    ]) {
      expect(directive.args).not.toContain('non_idempotent');
    }
    expect(nginxText).not.toMatch(/non_idempotent\s*;/);
  });

  it('X-Forwarded-For: the app sees the real client, not an address the client forged', async () => {
    const value = proxyHeader(location, 'X-Forwarded-For');
    // nginx is the edge: the client's own header is replaced, not extended (reasons in nginx.conf).
    expect(value).toBe('$remote_addr');
    const client = '203.0.113.7';
    const nginxAddress = '172.18.0.9';
    const forged = '198.51.100.66';
    const sent =
      value === '$remote_addr'
        ? client
        : value === '$proxy_add_x_forwarded_for'
          ? `${forged}, ${client}`
          : String(value);
    const fastify = Fastify(httpServerOptions(config, pino({ level: 'silent' })));
    fastify.get('/ip', (request) => ({ ip: request.ip }));
    try {
      const response = await fastify.inject({
        method: 'GET',
        url: '/ip',
        remoteAddress: nginxAddress,
        headers: { 'x-forwarded-for': sent },
      });
      expect(response.json()).toEqual({ ip: client });
    } finally {
      await fastify.close();
    }
  });

  it('X-Request-Id: the caller’s passes through, or nginx makes one', () => {
    const variable = proxyHeader(location, 'X-Request-Id');
    expect(variable).toMatch(/^\$\w+$/);
    const map = one(http, 'map', '$http_x_request_id', variable!).block;
    expect(one(map, 'default').args).toEqual(['$http_x_request_id']);
    expect(one(map, '').args).toEqual(['$request_id']);
  });

  it("nginx's own 503 and 413 are the API's error shape", () => {
    const body = (name: string, status: number) => {
      const named = one(server, 'location', name).block;
      const [code, text] = one(named, 'return').args;
      expect(Number(code)).toBe(status);
      expect(one(named, 'default_type').args).toEqual(['application/json']);
      return { named, json: JSON.parse(text) };
    };
    const unavailable = body('@unavailable', 503);
    expect(unavailable.json).toEqual(toErrorResponse(new ServiceUnavailableError()).body);
    const retryAfter = all(unavailable.named, 'add_header').find(
      (directive) => directive.args[0] === 'Retry-After',
    );
    expect(Number(retryAfter?.args[1])).toBeGreaterThan(0);
    expect(body('@too_large', 413).json).toEqual(
      toErrorResponse(new PayloadTooLargeException()).body,
    );
    const pages = all(server, 'error_page').map((directive) => directive.args.join(' '));
    expect(pages).toEqual(expect.arrayContaining(['502 504 = @unavailable', '413 = @too_large']));
    // error_page in a location would hide the server's from it.
    expect(all(location, 'error_page')).toEqual([]);
  });

  it(`PostgreSQL has connections for ${COMPOSE_SCALE} replicas`, () => {
    const perReplica = config.database.poolMax + EXTRA_CONNECTIONS_PER_REPLICA;
    expect(COMPOSE_SCALE * perReplica).toBeLessThanOrEqual(POSTGRES_MAX_CONNECTIONS);
  });
});

describe('the compose postures, as an operator meets them', () => {
  const DEFAULT = ['docker-compose.yml'];
  const PRODUCTION = ['docker-compose.yml', 'docker-compose.production.yml'];
  const appConfig = (files: string[], dotenv: Record<string, string>) =>
    loadConfig(containerEnvironment(loadCompose(files, dotenv).model.services.app, dotenv));

  it('the production file refuses to start without ADMIN_TOKEN, saying where it goes', () => {
    expect(() => loadCompose(PRODUCTION)).toThrow(
      /required variable ADMIN_TOKEN is missing a value: set ADMIN_TOKEN in \.env/,
    );
    expect(() => loadCompose(PRODUCTION, { ADMIN_TOKEN: '' })).toThrow('ADMIN_TOKEN');
    expect(() => loadCompose(PRODUCTION, { ADMIN_TOKEN: TOKEN })).not.toThrow();
  });

  it('a token in .env with the default file is refused at start, never ignored, naming both ways out', () => {
    expect(() => appConfig(DEFAULT, { ADMIN_TOKEN: TOKEN })).toThrow(
      /set ADMIN_AUTH=token too.*docker-compose\.production\.yml.*unset ADMIN_TOKEN/,
    );
    // The first way out: ADMIN_AUTH=token beside it, still on loopback only.
    const guarded = appConfig(DEFAULT, { ADMIN_TOKEN: TOKEN, ADMIN_AUTH: 'token' });
    expect(guarded.adminAuth).toBe('token');
    expect(guarded.adminToken).toBe(TOKEN);
    // The production file requires the token whatever .env says of ADMIN_AUTH.
    expect(appConfig(PRODUCTION, { ADMIN_TOKEN: TOKEN, ADMIN_AUTH: 'disabled' }).adminAuth).toBe(
      'token',
    );
  });

  it('.env.example names only settings the service reads, all commented out, valid uncommented', () => {
    const lines = read('.env.example').split('\n');
    expect(lines.filter((line) => /^\s*[A-Z_]+=/.test(line))).toEqual([]);
    const settings = Object.fromEntries(
      lines.flatMap((line) => {
        const setting = /^# ([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
        return setting ? [[setting[1], setting[2]]] : [];
      }),
    );
    expect(Object.keys(settings).length).toBeGreaterThan(5);
    const known = serviceSettings();
    expect(Object.keys(settings).filter((name) => !known.has(name))).toEqual([]);
    for (const files of [DEFAULT, PRODUCTION]) {
      expect(appConfig(files, settings).adminAuth).toBe('token');
    }
  });

  it('the loader refuses what Compose refuses: schema violations, unknown tags, bad interpolation', () => {
    const folder = mkdtempSync(join(tmpdir(), 'compose-'));
    const load = (text: string) => {
      const file = join(folder, 'compose.yml');
      writeFileSync(file, text);
      return () => loadCompose([file]);
    };
    try {
      expect(load('services:\n  app:\n    image: x\n    ports: 3000\n')).toThrow('not a valid');
      expect(load('services:\n  app:\n    enviroment: {}\n')).toThrow('additional properties');
      expect(load('services:\n  app:\n    ports: !replace []\n')).toThrow('!replace');
      expect(load("services:\n  app:\n    image: '${TAG'\n")).toThrow('interpolation');
      expect(load('services:\n  app:\n    image: x\n')).not.toThrow();
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it("interpolates as Compose does: defaults, required, alternatives, '$$'", () => {
    const env = { SET: 'value', EMPTY: '' };
    const cases: Array<[string, string]> = [
      ['${SET}/$SET', 'value/value'],
      ['${EMPTY:-default}|${EMPTY-default}|${UNSET-default}', 'default||default'],
      ['${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}', 'alt||alt'],
      ['${UNSET:-${SET}}', 'value'],
      ['$$SET costs $$5', '$SET costs $5'],
    ];
    for (const [text, expected] of cases)
      expect([text, interpolate(text, env)]).toEqual([text, expected]);
    expect(() => interpolate('${EMPTY:?needed}', env)).toThrow('EMPTY is missing a value: needed');
    expect(interpolate('${EMPTY?needed}', env)).toBe('');
    const warnings: string[] = [];
    expect(interpolate('${UNSET}', env, warnings)).toBe('');
    expect(warnings).toEqual(['The "UNSET" variable is not set. Defaulting to a blank string.']);
  });
});

describe('deploy/k8s', () => {
  const deployment = manifestOf<Deployment>('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const configMap = manifestOf<Manifest & { data: Record<string, string> }>('ConfigMap');
  const secret = manifestOf<
    Manifest & { stringData?: Record<string, string>; data?: Record<string, string> }
  >('Secret', 'secret.example.yaml');
  const service = manifestOf<
    Manifest & {
      spec: {
        type?: string;
        selector: Record<string, string>;
        ports: Array<{ name?: string; port: number; targetPort: string | number }>;
      };
    }
  >('Service');
  const pdb = manifestOf<
    Manifest & {
      spec: {
        minAvailable?: number;
        maxUnavailable?: number;
        selector: { matchLabels: Record<string, string> };
      };
    }
  >('PodDisruptionBudget');
  const secretKeys = Object.keys({ ...secret.data, ...secret.stringData });

  /** The container's environment without secrets: the image's ENV, the ConfigMap, then literal env. */
  const env = (): Record<string, string> => {
    const literal = (container.env ?? []).filter((variable) => variable.value !== undefined);
    return {
      ...dockerfile().env,
      ...configMap.data,
      ...Object.fromEntries(literal.map((variable) => [variable.name, String(variable.value)])),
    };
  };
  /** The same with the example Secret's values where the pod takes them from the Secret. */
  const envWithSecrets = (): Record<string, string> => {
    const values = { ...secret.data, ...secret.stringData };
    const refs = (container.env ?? []).filter((variable) => variable.valueFrom?.secretKeyRef);
    return {
      ...env(),
      ...Object.fromEntries(
        refs.map((variable) => [variable.name, values[variable.valueFrom!.secretKeyRef!.key]]),
      ),
    };
  };
  // Production refuses to start without ADMIN_TOKEN, which comes from the Secret.
  const config: AppConfig = loadConfig(envWithSecrets());

  const containerPort = (port: string | number) =>
    typeof port === 'number'
      ? port
      : container.ports?.find((candidate) => candidate.name === port)?.containerPort;

  it('kustomization lists every manifest but the example Secret', () => {
    const kustomization = parse(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8'));
    const manifests = readdirSync(K8S_DIR).filter(
      (file) =>
        /\.ya?ml$/.test(file) && !['kustomization.yaml', 'secret.example.yaml'].includes(file),
    );
    expect([...kustomization.resources].sort()).toEqual(manifests.sort());
    expect(secret.metadata?.name).toBe(SECRET_NAME);
  });

  it('the ConfigMap is valid configuration, every key one the service reads, no secret in it', () => {
    const known = serviceSettings();
    const keys = Object.keys(configMap.data);
    expect(keys.filter((name) => !known.has(name) && !NON_SERVICE_SETTINGS.includes(name))).toEqual(
      [],
    );
    for (const name of SECRET_SETTINGS) {
      expect(Object.keys(env())).not.toContain(name);
    }
    expect(config.nodeEnv).toBe('production');
    expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata?.name } }]);
  });

  it('TRUST_PROXY is 1 (the ingress controller) and WORKERS is 1 (scale with replicas)', () => {
    expect(configMap.data.TRUST_PROXY).toBe('1');
    expect(config.trustProxy).toBe(1);
    expect(configMap.data.WORKERS).toBe('1');
  });

  it(`secrets come from the Secret "${SECRET_NAME}", by keys the example defines`, () => {
    const refs = (container.env ?? []).filter((variable) => variable.valueFrom?.secretKeyRef);
    expect(refs.map((variable) => variable.name).sort()).toEqual([...SECRET_SETTINGS].sort());
    for (const variable of refs) {
      const ref = variable.valueFrom!.secretKeyRef!;
      expect(ref.name).toBe(SECRET_NAME);
      expect(secretKeys).toContain(ref.key);
    }
    for (const source of container.envFrom ?? []) {
      if (source.secretRef) expect(source.secretRef.name).toBe(SECRET_NAME);
    }
  });

  it('the example Secret holds placeholders that still make a valid configuration', () => {
    const values = { ...secret.data, ...secret.stringData };
    expect(values.DATABASE_URL).toContain('CHANGE_ME');
    expect(values.ADMIN_TOKEN).toContain('CHANGE_ME');
    const full = loadConfig(envWithSecrets());
    expect(full.database.url).toBeDefined();
    expect(full.adminToken).toBeDefined();
    // Without the Secret's ADMIN_TOKEN, a production pod refuses to start, naming it.
    expect(() => loadConfig(env())).toThrow('ADMIN_TOKEN');
  });

  it('ports line up: container port = PORT, the Service targets it, the image exposes it', () => {
    expect(pod.containers).toHaveLength(1);
    expect(container.ports).toEqual([
      { name: 'http', containerPort: config.port, protocol: 'TCP' },
    ]);
    expect(dockerfile().expose).toContain(config.port);
    expect(service.spec.type ?? 'ClusterIP').toBe('ClusterIP');
    expect(service.spec.ports).toHaveLength(1);
    expect(service.spec.ports[0].port).toBe(80);
    expect(containerPort(service.spec.ports[0].targetPort)).toBe(config.port);
  });

  it('probes: readiness /health/ready, liveness /health/live, a startup probe, on the app port', () => {
    const routes = healthRoutes();
    const { readinessProbe, livenessProbe, startupProbe } = container;
    expect(readinessProbe?.httpGet.path).toBe('/health/ready');
    expect(livenessProbe?.httpGet.path).toBe('/health/live');
    expect(startupProbe).toBeDefined();
    for (const probe of [readinessProbe!, livenessProbe!, startupProbe!]) {
      expect(routes).toContain(probe.httpGet.path);
      expect(containerPort(probe.httpGet.port)).toBe(config.port);
    }
    // Above the readiness check's own database deadline, so a slow database is its 503, not a timeout.
    const probeDeadlineMs = Number(
      /PROBE_TIMEOUT_MS = ([\d_]+)/
        .exec(read('src', 'health', 'database.health.ts'))?.[1]
        .replace(/_/g, ''),
    );
    expect(probeDeadlineMs).toBeGreaterThan(0);
    expect((readinessProbe!.timeoutSeconds ?? 1) * 1000).toBeGreaterThan(probeDeadlineMs);
    // Startup covers migrations that wait for another pod's advisory lock: at least a minute.
    expect(
      (startupProbe!.periodSeconds ?? 10) * (startupProbe!.failureThreshold ?? 3),
    ).toBeGreaterThanOrEqual(60);
  });

  it('grace: terminationGracePeriodSeconds >= preStop sleep + SHUTDOWN_GRACE_MS + margin', () => {
    const command = container.lifecycle?.preStop?.exec?.command ?? [];
    expect(command).toHaveLength(2);
    expect(command[0]).toBe('sleep');
    expect(command[1]).toMatch(/^\d+$/);
    const preStopSeconds = Number(command[1]);
    expect(preStopSeconds).toBeGreaterThan(0);
    expect(config.shutdownReadinessDelayMs).toBeLessThan(config.shutdownGraceMs);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(
      preStopSeconds + config.shutdownGraceMs / 1000 + KILL_MARGIN_SECONDS,
    );
  });

  it('selectors: the Deployment, the Service and the PDB all select the pod labels', () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(isSubset(deployment.spec.selector.matchLabels, labels)).toBe(true);
    expect(isSubset(service.spec.selector, labels)).toBe(true);
    expect(isSubset(pdb.spec.selector.matchLabels, labels)).toBe(true);
  });

  it('replicas roll without losing capacity, and the PDB lets one pod go at a time', () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(deployment.spec.strategy.type).toBe('RollingUpdate');
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(Number(deployment.spec.strategy.rollingUpdate.maxSurge)).toBeGreaterThanOrEqual(1);
    const { minAvailable, maxUnavailable } = pdb.spec;
    expect([minAvailable, maxUnavailable].filter((value) => value !== undefined)).toHaveLength(1);
    if (maxUnavailable !== undefined) expect(maxUnavailable).toBe(1);
    if (minAvailable !== undefined) expect(minAvailable).toBe(deployment.spec.replicas - 1);
  });

  it('PostgreSQL has connections for every pod, mid-rollout included', () => {
    const pods = deployment.spec.replicas + Number(deployment.spec.strategy.rollingUpdate.maxSurge);
    const perPod = config.database.poolMax + EXTRA_CONNECTIONS_PER_REPLICA;
    expect(pods * perPod).toBeLessThanOrEqual(POSTGRES_MAX_CONNECTIONS);
  });

  it('resources: requests within limits, the V8 heap below the memory limit', () => {
    const { requests, limits } = container.resources ?? {};
    for (const name of ['cpu', 'memory']) {
      expect(requests?.[name]).toBeDefined();
      expect(limits?.[name]).toBeDefined();
    }
    expect(cpuCores(requests!.cpu)).toBeLessThanOrEqual(cpuCores(limits!.cpu));
    expect(memoryBytes(requests!.memory)).toBeLessThanOrEqual(memoryBytes(limits!.memory));
    const heap = /--max-old-space-size=(\d+)/.exec(env().NODE_OPTIONS ?? '')?.[1];
    if (heap !== undefined) {
      expect(Number(heap) * 1024 ** 2).toBeLessThan(memoryBytes(limits!.memory));
    }
  });

  it("keeps the image's V8 flags: a NODE_OPTIONS in the manifest replaces the image's", () => {
    const imageFlags = (dockerfile().env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean);
    expect(imageFlags).toContain('--max-semi-space-size=16');
    expect((env().NODE_OPTIONS ?? '').split(/\s+/)).toEqual(expect.arrayContaining(imageFlags));
  });

  it('Prometheus scrapes each pod directly: annotations on the app port and route', () => {
    const annotations = deployment.spec.template.metadata.annotations ?? {};
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(Number(annotations['prometheus.io/port'])).toBe(config.port);
    expect(annotations['prometheus.io/path']).toBe(metricsRoute());
  });

  it('the optional ServiceMonitor scrapes the Service’s pods with the Secret’s METRICS_TOKEN', () => {
    const file = join(K8S_DIR, 'monitoring', 'servicemonitor.yaml');
    const monitor = parse(readFileSync(file, 'utf8')) as {
      kind: string;
      spec: {
        selector: { matchLabels: Record<string, string> };
        endpoints: Array<{
          port: string;
          path: string;
          authorization: { type: string; credentials: { name: string; key: string } };
        }>;
      };
    };
    expect(monitor.kind).toBe('ServiceMonitor');
    expect(isSubset(monitor.spec.selector.matchLabels, service.metadata?.labels ?? {})).toBe(true);
    const [endpoint] = monitor.spec.endpoints;
    expect(service.spec.ports.map((port) => port.name)).toContain(endpoint.port);
    expect(endpoint.path).toBe(metricsRoute());
    expect(endpoint.authorization).toEqual({
      type: 'Bearer',
      credentials: { name: SECRET_NAME, key: 'METRICS_TOKEN' },
    });
    expect(secretKeys).toContain('METRICS_TOKEN');
    // Guarded in the pods by the same token.
    expect(config.metricsToken).toBeDefined();
  });

  it('the public path routes the API alone: no /metrics, /docs or /health through the Ingress', () => {
    const ingress = manifestOf<
      Manifest & {
        spec: {
          rules: Array<{
            http: {
              paths: Array<{
                path: string;
                pathType: string;
                backend: { service: { name: string; port: { name?: string; number?: number } } };
              }>;
            };
          }>;
        };
      }
    >('Ingress');
    const paths = ingress.spec.rules.flatMap((rule) => rule.http.paths);
    expect(paths.map((path) => path.path).sort()).toEqual(['/events', '/users']);
    for (const path of paths) {
      expect(path.pathType).toBe('Prefix');
      expect(path.backend.service.name).toBe(service.metadata?.name);
      expect(service.spec.ports.map((port) => port.name)).toContain(path.backend.service.port.name);
    }
    const routed = (url: string) =>
      paths.some(({ path }) => url === path || url.startsWith(`${path}/`));
    for (const url of [metricsRoute(), '/docs', '/docs-json', ...healthRoutes()]) {
      expect([url, routed(url)]).toEqual([url, false]);
    }
    for (const url of ['/events', '/events/launch/tickets', '/users/42/tickets']) {
      expect([url, routed(url)]).toEqual([url, true]);
    }
    // And no Swagger UI in the pods.
    expect(config.docsUi).toBe(false);
  });

  it('runs as the non-root user of the image, by number', () => {
    const user = dockerfile().user;
    expect(user).not.toBe('root');
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    // The kubelet can only check runAsNonRoot against a numeric user; the image names `node`.
    if (!/^\d+$/.test(user)) expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
  });
});
