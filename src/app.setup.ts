import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import type { AppConfig } from './config/config';

/** The Fastify adapter with the service's HTTP settings; shared by main.ts, the tests and the benchmark. */
export function createFastifyAdapter(config: AppConfig): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    // Requests that reach a closing server are still answered by the app, in the spec's error shape.
    return503OnClosing: false,
  });
}

/** Everything the app needs before it serves: logger, hooks, route registration. */
export async function prepareApp(app: NestFastifyApplication): Promise<NestFastifyApplication> {
  app.useLogger(app.get(Logger));
  app.flushLogs();
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}
