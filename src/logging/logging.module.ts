import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { rootLogger } from './root-logger';

/**
 * Nest's Logger through nestjs-pino, writing with the same pino logger Fastify uses for request lines
 * (`useExisting`). No pino-http middleware: the request line comes from a Fastify hook (request-log.ts),
 * which costs a fraction of a middleware per request.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        pinoHttp: { logger: rootLogger(config) },
        useExisting: true,
        forRoutes: [],
      }),
    }),
  ],
})
export class LoggingModule {}
