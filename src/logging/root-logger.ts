import pino, { Logger } from 'pino';
import type { AppConfig } from '../config/config';

/** By the settings a logger depends on: main.ts and the ConfigModule each load the configuration. */
const loggers = new Map<string, Logger>();

/**
 * The one pino logger of an app: Fastify logs requests with it and Nest's Logger (nestjs-pino) writes
 * through it. JSON lines, pretty only in development.
 */
export function rootLogger(config: AppConfig): Logger {
  const settings = `${config.nodeEnv}:${config.logLevel}`;
  let logger = loggers.get(settings);
  if (!logger) {
    logger = pino({
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["idempotency-key"]'],
      transport:
        config.nodeEnv === 'development'
          ? { target: 'pino-pretty', options: { singleLine: true } }
          : undefined,
    });
    loggers.set(settings, logger);
  }
  return logger;
}
