import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyReply, FastifyRequest, LogController } from 'fastify';
import { Logger } from 'nestjs-pino';
import { AdminAuth } from './auth/admin-auth';
import { UserAuth } from './auth/user-auth';
import type { RequestCompletion } from './http/client-errors';
import { httpServerOptions, limitConnections } from './http/http-server';
import { useJsonBodiesOnly } from './http/json-body';
import { isDocument, pageHeaders, stampAnswer } from './http/security-headers';
import { validateInput } from './http/route-input';
import { decorateRouteOfRequest, routeFlagsOf, routePatternOf } from './common/route-flags';
import { Metrics, UNMATCHED_ROUTE } from './metrics/metrics';
import type { AppConfig } from './config/config';
import { APP_CONFIG } from './config/config.module';
import { setUpOpenApi } from './openapi/openapi';
import { FastifyRoute, registerFastifyRoute } from './http/fastify-route';
import { IssueTicketRoute } from './tickets/issue-ticket.route';
import { IdempotencyHooks } from './idempotency/idempotency-hooks';
import { ShutdownState } from './health/shutdown-state';
import { requestIdOf, requestLogger } from './logging/request-log';
import { BootDetailsAtDebug } from './logging/boot-details';
import { frameworkLogger, rootLogger } from './logging/root-logger';
import { OrderedAdmission } from './throttling/ordered-admission';
import { SurgeThrottler } from './throttling/surge-throttler';

/** The Fastify adapter with the service's HTTP settings; shared by main.ts, the tests and the benchmark. */
export function createFastifyAdapter(config: AppConfig): FastifyAdapter {
  const log = rootLogger(config);
  return new FastifyAdapter({
    ...httpServerOptions(config, log),
    loggerInstance: frameworkLogger(log),
    // One line per request, written by requestLogger (below) rather than Fastify's two.
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'requestId',
    }),
    genReqId: requestIdOf,
    // request.log is the root logger itself, not a child per request (that cost about 6 % of a request
    // under a surge): request-scoped lines carry the id as a field (request-log.ts).
    childLoggerFactory: () => log,
    // Requests that reach a closing server are still answered by the app, in the spec's error shape.
    return503OnClosing: false,
  });
}

/**
 * The HTTP pipeline around every route, in the order it runs, then route registration: CORS when
 * configured → a body that is not JSON is a 415 → the per-address line (waits for its place, or 429) →
 * end-user token (401/403, when on) → per-user budget (429) → admin credentials (401) → validation (400) —
 * all before any database work → Idempotency-Key claim or replay → route → keep the idempotent answer →
 * the security headers and the request id on every answer (an HTML answer gets helmet's page set too) →
 * one log line and the metrics. The routes are Nest's controllers, and the hot one Fastify serves itself
 * (http/fastify-route.ts); the hooks are Fastify's, so both kinds run this same pipeline.
 */
export async function prepareApp(app: NestFastifyApplication): Promise<NestFastifyApplication> {
  const config = app.get<AppConfig>(APP_CONFIG);
  app.useLogger(new BootDetailsAtDebug(app.get(Logger)));
  app.flushLogs();
  if (config.corsOrigins.length > 0) app.enableCors(corsOptions(config.corsOrigins));
  const fastifyRoutes = [app.get<IssueTicketRoute, FastifyRoute>(IssueTicketRoute)];
  setUpOpenApi(app, config.docsUi, fastifyRoutes);
  const admission = app.get(OrderedAdmission);
  const throttler = app.get(SurgeThrottler);
  const admin = app.get(AdminAuth);
  const users = app.get(UserAuth);
  const idempotency = app.get(IdempotencyHooks);
  const fastify = app.getHttpAdapter().getInstance();
  const log = rootLogger(config);
  limitConnections(fastify.server, config, log);
  if (config.trustProxy === true) {
    log.warn(
      'TRUST_PROXY=true trusts every X-Forwarded-For entry: a client can name any address and escape its ' +
        'per-IP budget. Set the hop count (e.g. 1) or the proxy addresses instead.',
    );
  }
  const page = pageHeaders();
  decorateRouteOfRequest(fastify);
  // One hook, its steps in order: each may refuse, and a refusal costs nothing after it.
  fastify.addHook('preHandler', async (request, reply) => {
    await admission.admit(request);
    await users.check(request);
    await throttler.checkUser(request);
    const flags = routeFlagsOf(request);
    admin.check(request, flags);
    // An invalid request is a 400 whatever its Idempotency-Key: the key is not looked at.
    validateInput(request, flags);
    return idempotency.preHandler(request, reply);
  });
  const shutdown = app.get(ShutdownState);
  // Every answer, whoever sent it (a route, a hook's refusal, a CORS preflight, the 404): onSend sees all.
  // One hook, two steps: the answer is kept for its Idempotency-Key first (it may become a 503), then stamped.
  const stamp = (request: FastifyRequest, reply: FastifyReply): void => {
    stampAnswer(reply, request.id);
    // A document (Swagger UI's page) gets helmet's headers for pages too.
    if (isDocument(reply.getHeader('content-type'))) void reply.headers(page);
    // Answers sent while draining close their connection, so a keep-alive client sends its next request on
    // a new one (through the balancer, elsewhere) instead of on a socket the server closes once it is idle.
    if (shutdown.shuttingDown) void reply.header('connection', 'close');
  };
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const kept = idempotency.onSend(request, reply, payload);
    if (!(kept instanceof Promise)) {
      stamp(request, reply);
      done(null, kept);
      return;
    }
    kept.then(
      (sent: unknown) => {
        stamp(request, reply);
        done(null, sent);
      },
      (error: Error) => done(error),
    );
  });
  const metrics = app.get(Metrics);
  const logRequest = requestLogger(config.logRequests);
  const requestCompleted: RequestCompletion['requestCompleted'] = (request, reply) => {
    logRequest(request, reply);
    metrics.observeRequest(
      request.method,
      routePatternOf(request) ?? UNMATCHED_ROUTE,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  };
  fastify.decorate('requestCompleted', requestCompleted);
  fastify.addHook('onResponse', (request, reply, done) => {
    requestCompleted(request, reply);
    done();
  });
  await app.init();
  // After init: it replaces the body parsers Nest registers there (JSON only, or a 415).
  useJsonBodiesOnly(fastify);
  // After init too: a Fastify route keeps the error handler set when it is registered, and Nest sets the
  // one that sends errors through its exception filter (the spec's error shape) in init.
  for (const route of fastifyRoutes) registerFastifyRoute(fastify, route);
  await fastify.ready();
  return app;
}

/** The headers a browser's code acts on: retries, replays, the request id to report, the ETag, token refusals. */
const EXPOSED_HEADERS = [
  'Retry-After',
  'Idempotent-Replayed',
  'X-Request-Id',
  'ETag',
  'WWW-Authenticate',
];
/** A browser keeps a preflight's answer this long (Chrome caps it at 2 h): not one preflight per request. */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/** CORS for CORS_ORIGINS: every method of the API, and the headers its answers carry readable by the page. */
function corsOptions(origins: string[]) {
  return {
    origin: origins,
    methods: ['GET', 'HEAD', 'POST', 'PATCH'],
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
  };
}
