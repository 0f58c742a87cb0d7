import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';

/**
 * Every (method, route, status) the e2e suite sees the service answer, checked against the OpenAPI document
 * once the suite is over: a status the API really gives cannot stay undocumented. The global setup makes a
 * folder and names it in this variable, which Jest's workers inherit; each worker appends what it sees to
 * a file of its own (no locking between workers), and the global teardown reads them all.
 */
const DIR_VARIABLE = 'OPENAPI_OBSERVED_DIR';
const DOCUMENT_FILE = 'document.json';

/** Swagger's own routes, which are not part of the API it describes. */
const NOT_API = /^\/docs(?:-json|\/|$)/;
/** CORS preflights are answered by the CORS layer for every path, not by an operation of the API. */
const NOT_AN_OPERATION = 'OPTIONS';

/** What this worker already wrote, so each observation is written once. */
const written = new Set<string>();

export function startObserving(): void {
  process.env[DIR_VARIABLE] = mkdtempSync(join(tmpdir(), 'golden-ticket-openapi-'));
}

/** Records one answer of a route (its pattern, `/events/:eventKey`), when the suite observes. */
export function observe(method: string, route: string | undefined, status: number): void {
  const dir = process.env[DIR_VARIABLE];
  if (!dir || !route || NOT_API.test(route) || method === NOT_AN_OPERATION) return;
  const line = JSON.stringify({ method, route, status });
  if (written.has(line)) return;
  written.add(line);
  appendFileSync(join(dir, `observed-${process.pid}.jsonl`), `${line}\n`);
}

/** Records every answer of an in-process app (registered before the app is ready). */
export function observeResponses(fastify: FastifyInstance): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    observe(request.method, request.routeOptions.url, reply.statusCode);
    done();
  });
}

/**
 * Keeps the document the observations are checked against (the first app of the run serves it). An app
 * with a test's own per-IP limit (`env`) is not asked: the request would spend the budget the test counts.
 */
export async function keepDocument(url: string, env: Record<string, unknown>): Promise<void> {
  const dir = process.env[DIR_VARIABLE];
  if (!dir || env.THROTTLE_IP_LIMIT !== undefined || existsSync(join(dir, DOCUMENT_FILE))) return;
  const response = await fetch(`${url}/docs-json`);
  writeFileSync(join(dir, DOCUMENT_FILE), await response.text());
}

type Paths = Record<string, Record<string, { responses: Record<string, unknown> }>>;

/**
 * Fails the run (Jest reports a throwing global teardown and exits non-zero) when the suite saw an answer
 * the document does not list; removes the folder either way.
 */
export function finishObserving(): void {
  const dir = process.env[DIR_VARIABLE];
  if (!dir) return;
  try {
    const undocumented = undocumentedObservations(dir);
    if (undocumented.length > 0) {
      throw new Error(
        `The e2e suite saw answers the OpenAPI document does not list (src/openapi):\n  ${undocumented.join('\n  ')}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The observations in `dir` that the document does not list, as `METHOD /path STATUS`. */
function undocumentedObservations(dir: string): string[] {
  if (!existsSync(join(dir, DOCUMENT_FILE))) return [];
  const paths = (JSON.parse(readFileSync(join(dir, DOCUMENT_FILE), 'utf8')) as { paths: Paths })
    .paths;
  const observed = new Set(
    readdirSync(dir)
      .filter((file) => file.startsWith('observed-'))
      .flatMap((file) => readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean)),
  );
  return [...observed]
    .map((line) => JSON.parse(line) as { method: string; route: string; status: number })
    .map(({ method, route, status }) => ({
      method,
      path: route.replace(/:(\w+)/g, '{$1}'),
      status: String(status),
    }))
    .filter(({ method, path, status }) => !paths[path]?.[method.toLowerCase()]?.responses[status])
    .map(({ method, path, status }) => `${method} ${path} ${status}`)
    .sort();
}
