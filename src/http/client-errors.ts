import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { toErrorResponse } from '../common/errors/error-response';
import { logForRequest } from '../logging/request-log';

/** Sockets already answered 408 here, so the request's later "aborted" error is not logged twice. */
const timedOut = new WeakSet<Socket>();

/**
 * Errors Node's HTTP parser reports before a request reaches Fastify (Fastify's `clientErrorHandler`):
 * a request that did not arrive within HTTP_REQUEST_TIMEOUT_MS / HTTP_HEADERS_TIMEOUT_MS (408), headers
 * too large (431), bytes that are not HTTP (400). Answered in the spec's error shape, then the connection
 * is closed; a timeout is logged once, at info (it is the client's network, not our fault).
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
    if (status === 408) {
      timedOut.add(socket);
      log.info({ remoteAddress: socket.remoteAddress, statusCode: 408 }, 'request timed out');
    } else {
      log.debug({ code: error.code, remoteAddress: socket.remoteAddress }, 'malformed HTTP');
    }
    if (socket.writable) {
      const body = JSON.stringify(toErrorResponse({ statusCode: status }).body);
      socket.write(
        `HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Connection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

/**
 * Fastify's own refusals before routing (a path that is not valid percent-encoding, a parameter over
 * its length limit): the spec's error shape instead of Fastify's.
 */
export function frameworkErrorHandler(
  error: Error & { statusCode?: number },
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const { status, body, headers } = toErrorResponse(error);
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
