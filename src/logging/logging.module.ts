import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Takes the caller's X-Request-Id when it is sane, otherwise makes one; echoes it on the response. */
export function requestIdOf(req: IncomingMessage, res: ServerResponse): string {
  const sent = req.headers['x-request-id'];
  const id = typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
  res.setHeader('x-request-id', id);
  return id;
}

/**
 * One JSON line per request (method, route, status, latency, request id, plus what the handler assigned, e.g.
 * the issuance outcome). Bodies and headers are never logged: they may carry tokens and personal data.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        // Fields a handler assigns (e.g. the issuance outcome) go on the request's one log line.
        assignResponse: true,
        pinoHttp: {
          level: config.logLevel,
          genReqId: requestIdOf,
          customAttributeKeys: { responseTime: 'latencyMs' },
          customProps: (req) => ({ requestId: req.id }),
          serializers: {
            req: (req: { id: string; method: string; url: string }) => ({
              id: req.id,
              method: req.method,
              url: req.url,
            }),
            res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
          },
          customLogLevel: (_req, res, error) =>
            error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
          redact: ['req.headers.authorization', 'req.headers.cookie'],
          transport:
            config.nodeEnv === 'development'
              ? { target: 'pino-pretty', options: { singleLine: true } }
              : undefined,
        },
      }),
    }),
  ],
})
export class LoggingModule {}
