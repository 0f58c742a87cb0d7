import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cleanup } from './system';

/**
 * A deliberate break of the compiled service, to prove the checker catches what it is meant to catch. Each
 * is one text replacement in one compiled file of a copy of dist/: production code has no switch for it.
 * The target text must occur exactly once, so a mutation whose code changed fails loudly instead of
 * silently testing nothing.
 */
export interface Mutation {
  name: string;
  what: string;
  /** Relative to dist/. */
  file: string;
  find: string;
  replace: string;
}

export const MUTATIONS: readonly Mutation[] = [
  {
    name: 'issuance-skips-key-records',
    what: "the issuance batch writes its tickets but not its keys' records: a resend to another instance is decided afresh",
    file: 'src/tickets/issuance.repository.js',
    find: 'const keyRows = answered.map(',
    replace: 'const keyRows = [].map(',
  },
  {
    name: 'answers-before-commit',
    what: "keyed answers given from memory go out before their records commit, and a key's stored answer is not consulted",
    file: 'src/idempotency/answer-group-commit.js',
    find: 'return this.batcher.submit(lane, { request, response, now });',
    replace:
      "void this.batcher.submit(lane, { request, response, now }).catch(() => undefined); return Promise.resolve({ kind: 'stored' });",
  },
];

/**
 * A copy of `root`/dist with the named mutation applied, in a temp folder removed by `cleanup`; its
 * node_modules is a link to the project's, so the copy runs as the original does. Returns the copy's
 * dist folder.
 */
export function mutatedBuild(root: string, name: string, cleanup: Cleanup): string {
  const mutation = MUTATIONS.find((candidate) => candidate.name === name);
  if (!mutation) {
    throw new Error(
      `unknown mutation "${name}"; known: ${MUTATIONS.map((m) => m.name).join(', ')}`,
    );
  }
  const folder = mkdtempSync(join(tmpdir(), 'golden-ticket-mutant-'));
  cleanup.add('mutated build', () => rmSync(folder, { recursive: true, force: true }));
  const dist = join(folder, 'dist');
  cpSync(join(root, 'dist'), dist, { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(folder, 'node_modules'), 'dir');
  applyMutation(dist, mutation);
  return dist;
}

export function applyMutation(dist: string, mutation: Mutation): void {
  const path = join(dist, mutation.file);
  const text = readFileSync(path, 'utf8');
  const found = text.split(mutation.find).length - 1;
  if (found !== 1) {
    throw new Error(
      `mutation ${mutation.name}: its target text occurs ${found} times in ${mutation.file} (expected once); ` +
        'the code it breaks has changed — update chaos/mutations.ts',
    );
  }
  writeFileSync(path, text.replace(mutation.find, mutation.replace));
}
