import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import Ajv from 'ajv';
import { Document, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { ROOT } from './pasted-blocks';

/**
 * The compose files as Docker Compose loads them, for tests (no Docker engine here): each file parsed with
 * Compose's `!override` and `!reset` tags, interpolated from a `.env` given as an object, validated against
 * the Compose Specification's JSON schema, then merged in order by the specification's merge rules, and
 * the merged model validated again. What Compose would refuse to load, this throws for.
 */
export interface ComposeModel {
  services: Record<string, ComposeService>;
  [key: string]: unknown;
}

export interface ComposeService {
  build?: unknown;
  image?: string;
  env_file?: Array<string | { path: string; required?: boolean }>;
  environment?: Record<string, string | number | boolean | null>;
  ports?: Array<string | { host_ip?: string; published?: string | number; target: number }>;
  expose?: Array<string | number>;
  container_name?: string;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string | string[] };
  stop_grace_period?: string;
  profiles?: string[];
  volumes?: string[];
  [key: string]: unknown;
}

export interface LoadedCompose {
  model: ComposeModel;
  /** What Compose would warn about: `${NAME}` without a default and unset. */
  warnings: string[];
}

/** `!override` (replace what earlier files said) and `!reset` (remove it), as parsed. */
class Tagged {
  constructor(
    readonly tag: '!override' | '!reset',
    readonly value: unknown,
  ) {}
}

/** The Compose Specification's schema, as dclint ships it (the compose-spec project's compose-spec.json). */
function schemaValidator() {
  const file = join(
    dirname(require.resolve('dclint/package.json')),
    'schemas',
    'compose.schema.json',
  );
  // Draft-07 under an https URL ajv does not know by that name; the keywords are draft-07's.
  const { $schema: _, ...schema } = JSON.parse(readFileSync(file, 'utf8')) as Record<
    string,
    unknown
  >;
  return new Ajv({ allErrors: true, strict: false, allowUnionTypes: true, logger: false }).compile(
    schema,
  );
}
let validator: ReturnType<typeof schemaValidator> | undefined;

function validate(model: unknown, what: string): void {
  validator ??= schemaValidator();
  if (!validator(model)) {
    const problems = (validator.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
    throw new Error(`${what} is not a valid Compose file: ${problems.join('; ')}`);
  }
}

/** A YAML node as plain data, with Compose's two tags kept as `Tagged`. */
function plain(node: unknown, document: Document): unknown {
  if (isAlias(node)) return plain(node.resolve(document), document);
  let value: unknown;
  if (isMap(node)) {
    value = Object.fromEntries(
      node.items.map((pair) => [
        String(isScalar(pair.key) ? pair.key.value : pair.key),
        plain(pair.value, document),
      ]),
    );
  } else if (isSeq(node)) {
    value = node.items.map((item) => plain(item, document));
  } else {
    value = isScalar(node) ? node.value : (node ?? null);
  }
  const tag = (node as { tag?: string } | null)?.tag;
  if (tag === '!override' || tag === '!reset') return new Tagged(tag, value);
  if (tag !== undefined && !tag.startsWith('tag:yaml.org,2002:')) {
    throw new Error(`unknown YAML tag ${tag}`);
  }
  return value;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * Compose's interpolation of one string: `$$`, `$NAME`, `${NAME}`, and `${NAME<op>word}` for the operators
 * `:-` `-` (default), `:?` `?` (required, with an error), `:+` `+` (alternative); the colon forms treat an
 * empty value as unset. Words may hold further interpolation.
 */
export function interpolate(text: string, env: Record<string, string>, warnings: string[] = []) {
  let out = '';
  for (let i = 0; i < text.length;) {
    if (text[i] !== '$') {
      out += text[i++];
    } else if (text[i + 1] === '$') {
      out += '$';
      i += 2;
    } else if (text[i + 1] === '{') {
      let depth = 1;
      let end = i + 2;
      for (; end < text.length && depth > 0; end++) {
        if (text[end] === '{') depth++;
        if (text[end] === '}') depth--;
      }
      if (depth > 0) throw new Error(`invalid interpolation format for "${text}"`);
      out += substitute(text.slice(i + 2, end - 1), env, warnings);
      i = end;
    } else {
      const name = NAME.exec(text.slice(i + 1))?.[0];
      if (name === undefined) throw new Error(`invalid interpolation format for "${text}"`);
      out += substitute(name, env, warnings);
      i += 1 + name.length;
    }
  }
  return out;
}

function substitute(expression: string, env: Record<string, string>, warnings: string[]): string {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(expression);
  if (!match) throw new Error(`invalid interpolation format: \${${expression}}`);
  const [, name, operator, word = ''] = match;
  const value = env[name];
  const unset = operator?.startsWith(':')
    ? value === undefined || value === ''
    : value === undefined;
  switch (operator) {
    case undefined:
      if (value === undefined) {
        warnings.push(`The "${name}" variable is not set. Defaulting to a blank string.`);
      }
      return value ?? '';
    case ':-':
    case '-':
      return unset ? interpolate(word, env, warnings) : value;
    case ':?':
    case '?':
      if (unset) throw new Error(`required variable ${name} is missing a value: ${word}`);
      return value;
    default:
      return unset ? '' : interpolate(word, env, warnings);
  }
}

/** Every string of a parsed file interpolated (values, not keys, as Compose does). */
function interpolated(value: unknown, env: Record<string, string>, warnings: string[]): unknown {
  if (typeof value === 'string') return interpolate(value, env, warnings);
  if (value instanceof Tagged) {
    return new Tagged(value.tag, interpolated(value.value, env, warnings));
  }
  if (Array.isArray(value)) return value.map((item) => interpolated(item, env, warnings));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolated(item, env, warnings)]),
    );
  }
  return value;
}

const REMOVED = Symbol('removed');
const isMapping = (value: unknown): value is Record<string, unknown> =>
  value !== null &&
  typeof value === 'object' &&
  !Array.isArray(value) &&
  !(value instanceof Tagged);
/** Sequences that a later file replaces rather than extends (the specification's shell commands). */
const REPLACED_SEQUENCES = new Set(['command', 'entrypoint', 'test']);

/**
 * `override` merged onto `base` by the specification's rules: mappings merge key by key, sequences append
 * what they do not already hold (commands are replaced), scalars are replaced; `!override` replaces
 * whatever was there, `!reset` removes it.
 */
function merge(base: unknown, override: unknown, key = ''): unknown {
  if (override instanceof Tagged) {
    return override.tag === '!reset' ? REMOVED : merge(undefined, override.value, key);
  }
  if (isMapping(override)) {
    const merged: Record<string, unknown> = isMapping(base) ? { ...base } : {};
    for (const [name, value] of Object.entries(override)) {
      const result = merge(merged[name], value, name);
      if (result === REMOVED) delete merged[name];
      else merged[name] = result;
    }
    return merged;
  }
  if (Array.isArray(override)) {
    const items = override.map((item) => merge(undefined, item));
    if (!Array.isArray(base) || REPLACED_SEQUENCES.has(key)) return items;
    return [...base, ...items.filter((item) => !base.some((had) => isDeepStrictEqual(had, item)))];
  }
  return override;
}

/**
 * `files` (relative to the repository, or absolute) loaded as `docker compose -f a -f b …` loads them, `dotenv` being
 * the `.env` beside them (`{}`: none).
 */
export function loadCompose(files: string[], dotenv: Record<string, string> = {}): LoadedCompose {
  const warnings: string[] = [];
  let model: unknown = undefined;
  for (const file of files) {
    const document = parseDocument(readFileSync(resolve(ROOT, file), 'utf8'));
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.join('; ')}`);
    const content = interpolated(plain(document.contents, document), dotenv, warnings);
    validate(merge(undefined, content), file);
    model = merge(model, content);
  }
  validate(model, files.join(' + '));
  return { model: model as ComposeModel, warnings };
}

/** The runtime stage of the Dockerfile: its ENV (what every container starts with), EXPOSE and USER. */
export function dockerfile(): { env: Record<string, string>; expose: number[]; user: string } {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM /m);
  const runtime = stages[stages.length - 1];
  const env: Record<string, string> = {};
  for (const line of runtime.match(/^ENV .*$/gm) ?? []) {
    for (const pair of line.slice(4).trim().split(/\s+/)) {
      const [name, ...value] = pair.split('=');
      env[name] = value.join('=');
    }
  }
  const expose = (runtime.match(/^EXPOSE .*$/gm) ?? []).flatMap((line) =>
    line.slice(7).trim().split(/\s+/).map(Number),
  );
  const user = /^USER (\S+)/m.exec(runtime)?.[1] ?? 'root';
  return { env, expose, user };
}

/**
 * The environment a container of `service` starts with: the image's ENV (this repository's Dockerfile,
 * for a service built from it), then its `env_file` (`.env`, given as `dotenv`), then `environment`.
 */
export function containerEnvironment(
  service: ComposeService,
  dotenv: Record<string, string> = {},
): Record<string, string> {
  const fromEnvFile = (service.env_file ?? []).some(
    (entry) => (typeof entry === 'string' ? entry : entry.path) === '.env',
  );
  // A name without a value (`NAME:`) passes the shell's variable through: none here.
  const environment = Object.entries(service.environment ?? {})
    .filter(([, value]) => value !== null)
    .map(([name, value]) => [name, String(value)]);
  return {
    ...(service.build === '.' ? dockerfile().env : {}),
    ...(fromEnvFile ? dotenv : {}),
    ...Object.fromEntries(environment),
  };
}

/** A service's published ports as { host_ip, published, target } (short or long syntax). */
export function publishedPorts(service: ComposeService) {
  return (service.ports ?? []).map((entry) => {
    if (typeof entry === 'object') {
      return {
        host_ip: entry.host_ip,
        published: Number(entry.published),
        target: Number(entry.target),
      };
    }
    const parts = String(entry).split(':');
    return {
      host_ip: parts.length === 3 ? parts[0] : undefined,
      published: Number(parts[parts.length - 2]),
      target: Number(parts[parts.length - 1]),
    };
  });
}
