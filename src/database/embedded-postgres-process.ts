/**
 * The embedded PostgreSQL of the service, in a process of its own (see startEmbeddedPostgresProcess): the
 * options as JSON in argv; one JSON line on stdout once the server is ready (`{ url }`) or could not start
 * (`{ error }`); the server stops, and this process ends, when stdin closes.
 */
import { once } from 'node:events';
import { EmbeddedOptions, startEmbeddedPostgres } from './embedded-postgres';

async function main(): Promise<void> {
  // Listened for from the start: the service may end before the server is ready.
  const released = once(process.stdin.resume(), 'end');
  const server = await startEmbeddedPostgres(JSON.parse(process.argv[2]) as EmbeddedOptions);
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  await released;
  await server.stop();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stdout.write(`${JSON.stringify({ error: message })}\n`, () => process.exit(1));
  },
);
