import { finishObserving } from './openapi-coverage';
import { SuiteServers, stopSuiteServers } from './suite-servers';

export default async function globalTeardown(): Promise<void> {
  const servers = (globalThis as { suiteServers?: SuiteServers }).suiteServers;
  if (servers) await stopSuiteServers(servers);
  finishObserving();
}
