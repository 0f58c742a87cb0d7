export default async function globalTeardown(): Promise<void> {
  const embedded = (globalThis as { embeddedPostgres?: { stop(): Promise<void> } })
    .embeddedPostgres;
  await embedded?.stop();
}
