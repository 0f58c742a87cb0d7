import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { toErrorResponse } from './error-response';

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    sendError(reply, exception, this.logger);
  }
}

export function sendError(reply: FastifyReply, exception: unknown, logger: Logger): void {
  const { status, body, headers } = toErrorResponse(exception);
  if (status >= 500) logger.error({ err: exception }, 'request failed');
  void reply.status(status).headers(headers).type('application/json; charset=utf-8').send(body);
}
