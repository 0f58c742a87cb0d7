import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { clientWentAway } from '../../http/client-errors';
import { addRequestLogFields } from '../../logging/request-log';
import { toErrorResponse } from './error-response';

/**
 * Everything thrown by a route, a hook or a body parser ends here and goes out in the spec's shape. Its
 * reason code rides on the request's one log line, and a 5xx's cause too (logged at error, with its id).
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    if (clientWentAway(request)) return;
    const { status, body, headers, reason } = toErrorResponse(exception);
    addRequestLogFields(request, status >= 500 ? { reason, err: exception } : { reason });
    void reply.status(status).headers(headers).type('application/json; charset=utf-8').send(body);
  }
}
