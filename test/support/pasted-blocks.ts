import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');

/** The first ```bash block after `marker` in a Markdown file of the repository, as written (a list item's indent removed). */
export function bashBlockAfter(file: string, marker: string): string {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const from = text.indexOf(marker);
  if (from < 0) throw new Error(`"${marker}" is not in ${file}`);
  const block = /^( *)```bash\n([\s\S]*?)^ *```$/m.exec(text.slice(from));
  if (!block) throw new Error(`no bash block after "${marker}" in ${file}`);
  return block[2].replace(new RegExp(`^${block[1]}`, 'gm'), '');
}

export interface Step {
  command: string;
  output: string;
}

/** Every ```bash block of a Markdown file of the repository, in order, joined into one script. */
export function bashBlocks(file: string): string {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((block) => block[1]).join('\n');
}

/**
 * Runs `script` with bash, as a reader pasting it would, and returns each command that starts with one of
 * `commands` with what it printed. Bash names every command it runs (a DEBUG trap), so the output is split
 * where the document's commands are, however they are wrapped.
 */
export function paste(
  script: string,
  env: Record<string, string> = {},
  commands: string[] = ['curl '],
): Step[] {
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
      timeout: 60_000,
    },
  );
  if (run.stderr !== '' || run.status !== 0) {
    throw new Error(`the block failed (exit ${run.status}):\n${run.stderr}\n${run.stdout}`);
  }
  return run.stdout
    .split(`\n${open}`)
    .slice(1)
    .map((chunk) => {
      const [command, output] = chunk.split(`${close}\n`);
      return { command, output };
    })
    .filter((step) => commands.some((command) => step.command.startsWith(command)));
}

/** The block aimed at the service at `url`: only `localhost:3000` becomes its port. */
export const pasteable = (block: string, url: string) =>
  block.replaceAll('localhost:3000', `localhost:${new URL(url).port}`);

/** `METHOD /path` of a curl command as the documents write it. */
export function requestOf(command: string): string {
  const method = /-X(\w+)/.exec(command)?.[1] ?? 'GET';
  const path = /localhost:\d+(\/\S*)/.exec(command)![1];
  return `${method} ${path}`;
}
