import { Test } from '@nestjs/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from '../../src/app.module';
import { createFastifyAdapter, prepareApp } from '../../src/app.setup';
import { Clock } from '../../src/clock/clock';
import type { ManualClock } from '../../src/clock/manual-clock';
import type { AppConfig } from '../../src/config/config';
import { APP_CONFIG } from '../../src/config/config.module';
import { observeResponses } from './openapi-coverage';

/**
 * The real AppModule in-process on Fastify, listening on a free loopback port, with the given configuration
 * and a hand-moved clock. Used by the e2e tests and by the benchmark's KST-midnight scenario.
 */
export async function bootApp(
  config: AppConfig,
  clock: ManualClock,
): Promise<NestFastifyApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(APP_CONFIG)
    .useValue(config)
    .overrideProvider(Clock)
    .useValue(clock)
    .compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(
    createFastifyAdapter(config),
    {
      bufferLogs: true,
    },
  );
  observeResponses(app.getHttpAdapter().getInstance());
  await prepareApp(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app;
}
