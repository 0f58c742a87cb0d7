import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import helmet, { HelmetOptions } from 'helmet';

/**
 * Every answer: the headers OWASP's REST Security Cheat Sheet asks of API responses — no framing, no MIME
 * sniffing, HTTPS only (the content type and caching are set by each route). A JSON answer is never a
 * document, so the policy allows it nothing at all.
 */
const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
});

/** The only HTML is Swagger UI at /docs, which needs its inline script and styles. */
const PAGE_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'", "'unsafe-inline'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
    },
  },
};

/**
 * helmet's full set for a document (an HTML page), computed once, set on top of API_HEADERS (stampAnswer)
 * when the answer is one. Setting helmet's dozen document headers on every JSON answer too cost
 * ≈ 7 % of a sold-out answer's CPU; building them per response (parsing the CSP each time) once cost a
 * twentieth of a surge. helmet writes its set onto this stand-in response once.
 */
export function pageHeaders(): Readonly<Record<string, string>> {
  const page: Record<string, string> = {};
  const collector = {
    setHeader: (name: string, value: unknown) => (page[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => delete page[name.toLowerCase()],
  };
  helmet(PAGE_OPTIONS)(
    {} as IncomingMessage,
    collector as unknown as ServerResponse,
    () => undefined,
  );
  return Object.freeze(page);
}

/**
 * The edge every answer leaves through: the API's security headers and the request id. Fastify's onSend
 * hook (app.setup.ts) stamps every reply, CORS preflights and 404s included; Fastify's own refusals before
 * routing and Node's (http/client-errors.ts), which no hook sees, stamp theirs with this too.
 */
export function stampAnswer(reply: FastifyReply, requestId: string): void {
  void reply.headers(API_HEADERS).header('x-request-id', requestId);
}

/** The same headers as raw HTTP/1.1 header lines, for an answer written to the socket itself. */
export function stampLines(requestId: string): string {
  let lines = '';
  for (const [name, value] of Object.entries(API_HEADERS)) lines += `${name}: ${value}\r\n`;
  return `${lines}x-request-id: ${requestId}\r\n`;
}

/** Whether an answer is a document a browser renders (Swagger UI's page), by its content type. */
export function isDocument(contentType: unknown): boolean {
  return typeof contentType === 'string' && contentType.startsWith('text/html');
}
