import {
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
  applyDecorators,
} from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation, ApiResponse } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import {
  AdminCredentialsError,
  EventNotFoundError,
  IdempotencyKeyInFlightError,
  IdempotencyKeyMalformedError,
  IdempotencyKeyReusedError,
  OtherUserError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UserTokenExpiredError,
  UserTokenInvalidError,
  UserTokenMissingError,
} from '../common/errors/domain-errors';
import { toErrorResponse } from '../common/errors/error-response';
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

const X_REQUEST_ID = ApiHeader({
  name: 'X-Request-Id',
  required: false,
  description: 'Echoed in the response and logged with the request; generated when absent.',
});

const IDEMPOTENCY_KEY = ApiHeader({
  name: 'Idempotency-Key',
  required: false,
  description:
    '1–255 printable ASCII characters. The first complete answer is kept for 24 h and replayed to every copy ' +
    '(with Idempotent-Replayed: true). Reused for another request: 422; still in flight: 409.',
});

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
    description: 'a malformed Idempotency-Key',
    examples: { malformedIdempotencyKey: messageOf(new IdempotencyKeyMalformedError()) },
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

/** One operation of the spec: summary, body, headers and every outcome with its exact messages. */
export function ApiOperationDoc(options: {
  summary: string;
  body?: SchemaObject;
  idempotent?: boolean;
  outcomes: Outcomes;
}) {
  const outcomes = merge(
    merge(merge(options.outcomes, options.idempotent ? KEYED : {}), options.body ? WITH_BODY : {}),
    SHED,
  );
  return applyDecorators(
    ApiOperation({ summary: options.summary }),
    X_REQUEST_ID,
    ...(options.idempotent ? [IDEMPOTENCY_KEY] : []),
    ...(options.body ? [ApiBody({ schema: options.body })] : []),
    ...Object.entries(outcomes).map(([status, outcome]) =>
      ApiResponse({
        status: Number(status),
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
      }),
    ),
  );
}

export const BAD_INPUT: Outcome = {
  description: 'Malformed body, id, key or date (names the field)',
  examples: { badField: 'userId은(는) 1 이상이어야 합니다.' },
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
