import {
  Global,
  Inject,
  Logger,
  Module,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import knexFactory, { Knex } from 'knex';
import { Model } from 'objection';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { applyMigrations, buildKnexConfig } from './knex-config';

export const KNEX = Symbol('KNEX');

const knexLogger = new Logger('Knex');

@Global()
@Module({
  providers: [
    {
      provide: KNEX,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): Knex => {
        if (!config.database.url) {
          throw new Error('DATABASE_URL is not set: start the app through main.ts or set it');
        }
        const knex = knexFactory(
          buildKnexConfig({
            url: config.database.url,
            poolMin: config.database.poolMin,
            poolMax: config.database.poolMax,
            acquireTimeoutMs: config.database.acquireTimeoutMs,
            statementTimeoutMs: config.database.statementTimeoutMs,
            queryTimeoutMs: config.database.queryTimeoutMs,
            log: (level, message) => knexLogger[level](message),
          }),
        );
        Model.knex(knex);
        return knex;
      },
    },
  ],
  exports: [KNEX],
})
export class DatabaseModule implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseModule.name);

  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    if (!this.config.database.migrateOnStart) return;
    const applied = await applyMigrations(this.knex);
    if (applied.length > 0) this.logger.log(`applied migrations: ${applied.join(', ')}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.knex.destroy();
  }
}
