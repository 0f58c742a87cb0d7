import { finishObserving } from './openapi-coverage';

export default async function globalTeardown(): Promise<void> {
  const embedded = (globalThis as { embeddedPostgres?: { remove(): Promise<void> } })
    .embeddedPostgres;
  await embedded?.remove();
  finishObserving();
}
