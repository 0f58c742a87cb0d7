import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { REASON } from '../common/errors/domain-errors';
import { toErrorResponse } from '../common/errors/error-response';
import { addRequestLogFields, logForRequest } from '../logging/request-log';
import { stampAnswer, stampLines } from './security-headers';

/** Sockets already answered 408 here, so the request's later "aborted" error is not logged twice. */
const timedOut = new WeakSet<Socket>();

/**
 * Errors Node's HTTP parser reports before a request reaches Fastify (Fastify's `clientErrorHandler`):
 * a request that did not arrive within HTTP_REQUEST_TIMEOUT_MS / HTTP_HEADERS_TIMEOUT_MS (408), headers
 * too large (431), bytes that are not HTTP (400). Answered in the spec's error shape with the headers of
 * every answer (a request id made here: the request's own was never read), then the connection is closed;
 * a timeout is logged once, at info (it is the client's network, not our fault), with that id.
 */
export function clientErrorHandler(
  log: FastifyBaseLogger,
): (error: Error & { code?: string }, socket: Socket) => void {
  return (error, socket) => {
    // A reset socket, or one in the middle of an answer (Node's own rule, `_httpMessage` being the response
    // attached to the socket): nothing can be said any more.
    const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })
      ._httpMessage;
    if (error.code === 'ECONNRESET' || socket.destroyed || answering?.headersSent) {
      socket.destroy();
      return;
    }
    const status =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 408
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? 431
          : 400;
    const refusal = toErrorResponse({ statusCode: status });
    const requestId = randomUUID();
    const fields = { requestId, remoteAddress: socket.remoteAddress, statusCode: status };
    if (status === 408) {
      timedOut.add(socket);
      log.info({ ...fields, reason: refusal.reason }, 'request timed out');
    } else {
      const reason = status === 400 ? REASON.malformedHttp : refusal.reason;
      log.debug({ ...fields, reason, code: error.code }, 'malformed HTTP');
    }
    if (socket.writable) {
      const body = JSON.stringify(refusal.body);
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${stampLines(requestId)}` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

/**
 * Fastify's own refusals before routing (a path that is not valid percent-encoding): the spec's error shape
 * instead of Fastify's. (A path parameter is never too long for Fastify: see http-server.ts.)
 */
export function frameworkErrorHandler(
  error: Error & { statusCode?: number },
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const { status, body, headers, reason } = toErrorResponse(error);
  // No hook runs for these either: they leave through the same edge by hand.
  stampAnswer(reply, request.id);
  addRequestLogFields(request, { reason });
  void reply.status(status).headers(headers).type('application/json; charset=utf-8').send(body);
  // Fastify runs no onResponse hook for these: their log line and metrics are written here.
  (request.server as Partial<RequestCompletion>).requestCompleted?.(request, reply);
}

/** What app.setup.ts decorates the server with: the log line and metrics of a finished request. */
export interface RequestCompletion {
  requestCompleted(request: FastifyRequest, reply: FastifyReply): void;
}

/**
 * The client is gone before its answer: it dropped the connection mid-request, or this server closed it
 * after a timeout. Nothing can be sent; it is logged at info (once: a timeout was logged already).
 */
export function clientWentAway(request: FastifyRequest): boolean {
  // The socket, not the request stream: a request stream is destroyed anyway once its body was read.
  const socket = request.raw.socket as Socket | null;
  if (socket && !socket.destroyed) return false;
  if (!socket || !timedOut.has(socket)) {
    logForRequest(
      request,
      'info',
      { method: request.method, url: request.url },
      'client closed the connection before the answer',
    );
  }
  return true;
}
