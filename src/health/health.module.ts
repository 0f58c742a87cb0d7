import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { DatabaseHealthIndicator } from './database.health';
import { HealthController } from './health.controller';
import { ShutdownState } from './shutdown-state';

@Module({
  imports: [
    TerminusModule.forRootAsync({
      inject: [APP_CONFIG],
      // On SIGTERM readiness answers 503 for this long while requests are still served, so a load
      // balancer stops sending new ones before the server closes.
      useFactory: (config: AppConfig) => ({
        logger: false,
        gracefulShutdownTimeoutMs: config.shutdownReadinessDelayMs,
      }),
    }),
  ],
  controllers: [HealthController],
  providers: [DatabaseHealthIndicator, ShutdownState],
})
export class HealthModule {}
