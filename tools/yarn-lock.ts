/**
 * yarn.lock written from package-lock.json, so both package managers install the same versions and npm's
 * lock stays the one source of truth: `npm install <package>`, then `npm run yarn-lock`
 * (test/lock-files.spec.ts fails until both agree). Classic yarn keeps a version that its lock names for a
 * range and never dedupes on its own, so a yarn.lock resolved by yarn itself takes the newest match of
 * every range and installs second copies (fastify's own light-my-request and find-my-way beside
 * @nestjs/platform-fastify's exact pins).
 *
 * npm rewrites a yarn.lock it finds on every install (`npm ci` included), in a form yarn does not keep:
 * peer ranges yarn never asks for, only the packages installed on this platform. The root `postinstall`
 * (run by `npm ci`, `npm install` without arguments and `yarn install`, after their lock files are
 * written) runs this again, where the tool and ts-node are there (not in the image's build stage).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from '@yarnpkg/lockfile';

/** An entry of package-lock.json's `packages` (lockfileVersion 2 and 3). */
export interface LockedPackage {
  version: string;
  /** The real name, when installed under an alias (`"x": "npm:y@1"`). */
  name?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

export interface PackageLock {
  packages: Record<string, LockedPackage>;
}

interface YarnEntry {
  version: string;
  resolved: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** Yarn's default registry, the one its own lock files name. */
const YARN_REGISTRY = 'https://registry.yarnpkg.com';

/** The name a location installs (`node_modules/a/node_modules/@s/b` → `@s/b`). */
export const installedName = (location: string) =>
  location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length);

/** Where Node's resolution finds `name` from the package at `location`: its own folder, then upwards. */
function locate(lock: PackageLock, location: string, name: string): string | undefined {
  for (let base = location; ;) {
    const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (base === '') return undefined;
    const parent = base.lastIndexOf('/node_modules/');
    base = parent < 0 ? '' : base.slice(0, parent);
  }
}

/** `a/@s/b/c` (a resolutions key) → its last package name, `c`. */
function lastPackageOf(path: string): string {
  const parts = path.split('/');
  const last = parts[parts.length - 1];
  return parts.length > 1 && parts[parts.length - 2].startsWith('@')
    ? `${parts[parts.length - 2]}/${last}`
    : last;
}

/**
 * The yarn.lock that makes yarn install what `lock` installs: one entry per installed name and version,
 * under every `name@range` that resolves to it, plus the `name@version` pattern yarn adds for each of
 * package.json's `resolutions`. Throws where yarn cannot follow: one range that npm resolved to two
 * versions in two places, or a resolution that npm's lock does not install.
 */
export function yarnLockFrom(lock: PackageLock, resolutions: Record<string, string> = {}): string {
  const entries = new Map<string, YarnEntry>();
  const byPattern: Record<string, YarnEntry> = {};
  const visited = new Set<string>();

  const entryOf = (location: string): YarnEntry => {
    const locked = lock.packages[location];
    const name = installedName(location);
    const key = `${name}@${locked.version}`;
    let entry = entries.get(key);
    if (!entry) {
      const realName = locked.name ?? name;
      entry = {
        version: locked.version,
        resolved: `${YARN_REGISTRY}/${realName}/-/${realName.split('/').pop()}-${locked.version}.tgz`,
        integrity: locked.integrity,
        dependencies: locked.dependencies,
        optionalDependencies: locked.optionalDependencies,
      };
      entries.set(key, entry);
    }
    return entry;
  };

  const visit = (location: string) => {
    if (visited.has(location)) return;
    visited.add(location);
    const locked = lock.packages[location];
    const wanted = {
      ...(location === '' ? locked.devDependencies : {}),
      ...locked.dependencies,
      ...locked.optionalDependencies,
    };
    for (const [name, range] of Object.entries(wanted)) {
      const target = locate(lock, location, name);
      if (target === undefined) {
        throw new Error(`package-lock.json does not install ${name}@${range} for "${location}"`);
      }
      const pattern = `${name}@${range}`;
      const entry = entryOf(target);
      if (byPattern[pattern] && byPattern[pattern] !== entry) {
        throw new Error(
          `npm resolved ${pattern} to ${byPattern[pattern].version} and ${entry.version}: one yarn.lock ` +
            'entry cannot say both (run `npm dedupe`)',
        );
      }
      byPattern[pattern] = entry;
      visit(target);
    }
  };
  visit('');

  for (const [path, version] of Object.entries(resolutions)) {
    const name = lastPackageOf(path);
    const entry = entries.get(`${name}@${version}`);
    if (!entry) {
      throw new Error(
        `resolutions pins ${path} to ${version}, which package-lock.json does not install: ` +
          "npm's overrides and yarn's resolutions must pin the same versions",
      );
    }
    byPattern[`${name}@${version}`] = entry;
  }
  return stringify(byPattern);
}

/** The repository's yarn.lock as it should be, from its package-lock.json and package.json. */
export function expectedYarnLock(root: string): string {
  const read = (file: string) => JSON.parse(readFileSync(join(root, file), 'utf8')) as unknown;
  const manifest = read('package.json') as { resolutions?: Record<string, string> };
  return yarnLockFrom(read('package-lock.json') as PackageLock, manifest.resolutions);
}

if (require.main === module) {
  const root = join(__dirname, '..');
  writeFileSync(join(root, 'yarn.lock'), expectedYarnLock(root));
}
