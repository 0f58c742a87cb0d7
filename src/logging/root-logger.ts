import pino, { Logger } from 'pino';
import type { AppConfig } from '../config/config';

const LOG_CHUNK_BYTES = 4096;

/** By the settings a logger depends on: main.ts and the ConfigModule each load the configuration. */
const loggers = new Map<string, Logger>();

/**
 * The one pino logger of an app: Fastify logs requests with it and Nest's Logger (nestjs-pino) writes
 * through it. JSON lines, pretty only in development. Lines are written asynchronously: a synchronous
 * write blocks the event loop whenever the reader of stdout (a pipe, a log shipper) falls behind — a
 * surge's worth of request lines cost an eighth of the CPU in busy-waiting that way. What is buffered is
 * flushed when the process exits. Written in chunks of at most LOG_CHUNK_BYTES: sonic-boom appends each line
 * to a string chunk and measures the chunk's byte length at every line, which copies it, so a smaller chunk
 * copies less (a line cost ≈ 1–3 µs less at 4 KiB than at the default 16 KiB, measured to /dev/null).
 */
export function rootLogger(config: AppConfig): Logger {
  const settings = `${config.nodeEnv}:${config.logLevel}`;
  let logger = loggers.get(settings);
  if (!logger) {
    const options = {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["idempotency-key"]'],
      // ISO-8601 UTC with milliseconds, `"time":"2026-12-01T15:00:00.123Z"`: read by people and shippers alike.
      timestamp: isoTimeOncePerMillisecond(),
    };
    logger =
      config.nodeEnv === 'development'
        ? pino({ ...options, transport: { target: 'pino-pretty', options: { singleLine: true } } })
        : pino(options, pino.destination({ dest: 1, sync: false, maxWrite: LOG_CHUNK_BYTES }));
    loggers.set(settings, logger);
  }
  return logger;
}

/**
 * pino's isoTime (`,"time":"…"`), each millisecond's text made once: a surge writes several lines a
 * millisecond, and formatting the date was a line's dearest field.
 */
function isoTimeOncePerMillisecond(): () => string {
  let at = NaN;
  let text = '';
  return () => {
    const now = Date.now();
    if (now !== at) {
      at = now;
      text = `,"time":"${new Date(now).toISOString()}"`;
    }
    return text;
  };
}

/**
 * The logger Fastify's instance writes with: the root one at warn at least. Its only info line is the
 * "Server listening at …" of each address, which the start-up summary replaces (main.ts); requests log
 * through the root logger itself (app.setup.ts).
 */
export function frameworkLogger(root: Logger): Logger {
  const level = Math.max(root.levelVal, pino.levels.values.warn);
  return root.child({}, { level: pino.levels.labels[level] });
}
