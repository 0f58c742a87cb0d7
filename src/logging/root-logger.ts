import pino, { Logger } from 'pino';
import type { AppConfig } from '../config/config';

const loggers = new WeakMap<AppConfig, Logger>();

/**
 * The one pino logger of an app: Fastify logs requests with it and Nest's Logger (nestjs-pino) writes
 * through it. JSON lines, pretty only in development.
 */
export function rootLogger(config: AppConfig): Logger {
  let logger = loggers.get(config);
  if (!logger) {
    logger = pino({
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["idempotency-key"]'],
      transport:
        config.nodeEnv === 'development'
          ? { target: 'pino-pretty', options: { singleLine: true } }
          : undefined,
    });
    loggers.set(config, logger);
  }
  return logger;
}
