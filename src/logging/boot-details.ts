import type { LoggerService } from '@nestjs/common';
import type { Logger } from 'nestjs-pino';

/** Nest's own contexts on the way up: a line per module ("… initialized") and per route ("Mapped …"). */
const BOOT_CONTEXTS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
]);

/**
 * Nest's Logger (nestjs-pino), with Nest's start-up details at debug instead of info: a start is one line
 * at info, the summary (main.ts). Everything else as it is.
 */
export class BootDetailsAtDebug implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    if (BOOT_CONTEXTS.has(params.at(-1) as string)) this.logger.debug(message, ...params);
    else this.logger.log(message, ...params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.logger.error(message, ...params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.logger.warn(message, ...params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.logger.debug(message, ...params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.logger.verbose(message, ...params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.logger.fatal(message, ...params);
  }
}
