import {
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
  applyDecorators,
} from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation, ApiParam, ApiResponse } from '@nestjs/swagger';
import type {
  OperationObject,
  ParameterObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import {
  AdminCredentialsError,
  EventNotFoundError,
  IdempotencyKeyInFlightError,
  IdempotencyKeyMalformedError,
  IdempotencyKeyRepeatedError,
  IdempotencyKeyReusedError,
  OtherUserError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UserTokenExpiredError,
  UserTokenInvalidError,
  UserTokenMissingError,
} from '../common/errors/domain-errors';
import { toErrorResponse } from '../common/errors/error-response';
import { ruleMessage } from '../common/validation';
import { CORRECTION_REFUSALS, PERIOD_OVER } from '../events/event-rules';
import type { FastifyRoute } from '../http/fastify-route';
import * as schemas from './schemas';

/**
 * Documented outcomes of an operation: status → the schema of its body, and either error examples (named
 * after what each shows, in Swagger UI's drop-down) or one example body.
 */
type Outcome = {
  description: string;
  schema?: SchemaObject;
  examples?: Record<string, string>;
  example?: unknown;
};
type Outcomes = Record<number, Outcome>;

/** The message the service really sends for an error, so an example cannot differ from it. */
const messageOf = (error: unknown) => toErrorResponse(error).body.message;

const X_REQUEST_ID = {
  name: 'X-Request-Id',
  required: false,
  description: 'Echoed in the response and logged with the request; generated when absent.',
};

const IDEMPOTENCY_KEY = {
  name: 'Idempotency-Key',
  required: false,
  description:
    '1–255 printable ASCII characters, one header per request (two: 400). The first complete answer is kept ' +
    'for 24 h and replayed to every copy (with Idempotent-Replayed: true). Reused for another request: 422; ' +
    'still in flight: 409.',
};

const SHED: Outcomes = {
  429: {
    description: 'Throttled (Retry-After)',
    examples: { throttled: messageOf(new TooManyRequestsError(1)) },
  },
  503: {
    description: 'Database unreachable or contention outlasted the retries (Retry-After)',
    examples: { databaseUnavailable: messageOf(new ServiceUnavailableError()) },
  },
};

/** What the Idempotency-Key adds to every keyed operation. */
const KEYED: Outcomes = {
  400: {
    description: 'a malformed Idempotency-Key, or two Idempotency-Key headers',
    examples: {
      malformedIdempotencyKey: messageOf(new IdempotencyKeyMalformedError()),
      twoIdempotencyKeys: messageOf(new IdempotencyKeyRepeatedError()),
    },
  },
  409: {
    description: 'the same Idempotency-Key still in flight (Retry-After)',
    examples: { idempotencyKeyInFlight: messageOf(new IdempotencyKeyInFlightError(1)) },
  },
  422: {
    description: 'the Idempotency-Key already used for another request',
    examples: { idempotencyKeyReused: messageOf(new IdempotencyKeyReusedError()) },
  },
};

/** What Fastify refuses in any JSON body before the route runs. */
const WITH_BODY: Outcomes = {
  413: {
    description: 'a body over BODY_LIMIT_BYTES',
    examples: { bodyTooLarge: messageOf(new PayloadTooLargeException()) },
  },
  415: {
    description: 'a body that is not application/json',
    examples: { notJson: messageOf(new UnsupportedMediaTypeException()) },
  },
};

/** Outcomes of one status from two sources: descriptions joined, examples side by side. */
function merge(outcomes: Outcomes, more: Outcomes): Outcomes {
  const merged = { ...outcomes };
  for (const [status, outcome] of Object.entries(more)) {
    const own = merged[Number(status)];
    merged[Number(status)] = own
      ? {
          ...own,
          description: `${own.description}, or ${outcome.description}`,
          examples: { ...own.examples, ...outcome.examples },
        }
      : { ...outcome, description: capitalized(outcome.description) };
  }
  return merged;
}

const capitalized = (text: string) => text[0].toUpperCase() + text.slice(1);

/** One operation of the spec: summary, path parameters, body, headers and every outcome with its exact messages. */
export interface OperationDoc {
  summary: string;
  /** Rules worth more than a summary line (Markdown). */
  description?: string;
  /** The path's parameters, by name. */
  params?: Record<string, SchemaObject>;
  body?: SchemaObject;
  idempotent?: boolean;
  outcomes: Outcomes;
}

/**
 * The operation of a route Fastify serves itself: its body is the route's schema; its tag and bearer scheme
 * are not decorators.
 */
export interface RouteDoc extends Omit<OperationDoc, 'body' | 'params'> {
  operationId: string;
  tag: string;
  bearer?: string;
}

/** The headers an operation documents. */
function headersOf(doc: OperationDoc) {
  return doc.idempotent ? [X_REQUEST_ID, IDEMPOTENCY_KEY] : [X_REQUEST_ID];
}

/** Every documented answer of an operation: its own, plus what keys, bodies and shedding add. */
function responsesOf(doc: OperationDoc): Array<[number, ResponseObject]> {
  const outcomes = merge(
    merge(merge(doc.outcomes, doc.idempotent ? KEYED : {}), doc.body ? WITH_BODY : {}),
    SHED,
  );
  return Object.entries(outcomes).map(([status, outcome]) => [
    Number(status),
    {
      description: outcome.description,
      content: {
        'application/json': {
          schema: outcome.schema ?? schemas.error,
          ...(outcome.examples
            ? {
                examples: Object.fromEntries(
                  Object.entries(outcome.examples).map(([name, message]) => [
                    name,
                    { summary: message, value: { statusCode: Number(status), message } },
                  ]),
                ),
              }
            : outcome.example !== undefined
              ? { example: outcome.example }
              : {}),
        },
      },
    },
  ]);
}

/** The operation as decorators of a Nest controller's method. */
export function ApiOperationDoc(doc: OperationDoc) {
  return applyDecorators(
    ApiOperation({ summary: doc.summary, description: doc.description }),
    ...Object.entries(doc.params ?? {}).map(([name, schema]) =>
      ApiParam({ name, required: true, schema }),
    ),
    ...headersOf(doc).map((header) => ApiHeader(header)),
    ...(doc.body ? [ApiBody({ schema: doc.body })] : []),
    ...responsesOf(doc).map(([status, response]) => ApiResponse({ status, ...response })),
  );
}

/** The OpenAPI path and operation of a route Fastify serves itself, from its schema and its doc. */
export function operationOf(route: FastifyRoute): {
  path: string;
  method: string;
  operation: OperationObject;
} {
  const { schema, doc: routeDoc } = route;
  const doc: OperationDoc = { ...routeDoc, body: schema.body };
  const pathParameters = Object.entries(schema.params?.properties ?? {}).map(
    ([name, parameter]): ParameterObject => ({
      name,
      in: 'path',
      required: true,
      schema: parameter,
    }),
  );
  const headers = headersOf(doc).map((header): ParameterObject => ({
    ...header,
    in: 'header',
    schema: { type: 'string' },
  }));
  return {
    path: route.url.replace(/:(\w+)/g, '{$1}'),
    method: route.method.toLowerCase(),
    operation: {
      operationId: routeDoc.operationId,
      summary: doc.summary,
      tags: [routeDoc.tag],
      ...(routeDoc.bearer ? { security: [{ [routeDoc.bearer]: [] }] } : {}),
      parameters: [...pathParameters, ...headers],
      ...(doc.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: doc.body } } } }
        : {}),
      responses: Object.fromEntries(responsesOf(doc)),
    },
  };
}

export const BAD_INPUT: Outcome = {
  description: 'Malformed body, id, key or date (names the field)',
  examples: { badField: 'userId은(는) 1 이상이어야 합니다.' },
};
/** An over-long key is the field's 400 like any malformed key (never a 414). */
export const EVENT_KEY_TOO_LONG = { eventKeyTooLong: 'eventKey은(는) 100자 이하여야 합니다.' };
/** The 400s of an event's fields: BAD_INPUT's, and the rules a creation and a correction check. */
export const BAD_EVENT_INPUT: Outcome = {
  ...BAD_INPUT,
  examples: {
    ...BAD_INPUT.examples,
    ...EVENT_KEY_TOO_LONG,
    periodOrdered: ruleMessage('period.ordered'),
    periodOver: PERIOD_OVER,
    dailyLimitAboveTotal: ruleMessage('limit.withinTotal'),
  },
};
/** A correction that would make an answer already given untrue (events/event-rules.ts). */
export const CORRECTION_REFUSED: Outcome = {
  description: 'A correction the event can no longer take (names the field and the rule)',
  examples: {
    belowIssued: CORRECTION_REFUSALS.belowIssued(120),
    soldOutIsFinal: CORRECTION_REFUSALS.soldOutIsFinal,
    belowToday: CORRECTION_REFUSALS.belowToday(50),
    capReachedToday: CORRECTION_REFUSALS.capReachedToday,
    startFixed: CORRECTION_REFUSALS.startFixed,
    endFixed: CORRECTION_REFUSALS.endFixed,
  },
};
export const UNKNOWN_EVENT: Outcome = {
  description: 'Unknown eventKey',
  examples: { unknownEvent: messageOf(new EventNotFoundError()) },
};
export const USER_TOKEN_REFUSED: Outcome = {
  description:
    'End-user tokens are on and the Bearer JWT is missing, malformed, badly signed, of another issuer or ' +
    'audience, or expired (WWW-Authenticate: Bearer error="invalid_token")',
  examples: {
    tokenMissing: messageOf(new UserTokenMissingError()),
    tokenInvalid: messageOf(new UserTokenInvalidError()),
    tokenExpired: messageOf(new UserTokenExpiredError()),
  },
};
export const OTHER_USER: Outcome = {
  description: 'A valid end-user token whose subject is another user than the userId asked for',
  examples: { otherUser: messageOf(new OtherUserError()) },
};
export const ADMIN_ONLY: Outcome = {
  description: 'ADMIN_TOKEN is set and the Bearer token is missing or wrong',
  examples: { adminTokenMissingOrWrong: messageOf(new AdminCredentialsError()) },
};
