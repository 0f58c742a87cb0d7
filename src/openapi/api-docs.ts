import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation, ApiResponse } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import * as schemas from './schemas';

/** Documented outcomes of an operation: status → the schema of its body and example bodies. */
type Outcomes = Record<
  number,
  { description: string; schema?: SchemaObject; messages?: string[]; example?: unknown }
>;

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
    messages: ['요청이 너무 많습니다. 잠시 후 다시 시도해주세요.'],
  },
  503: {
    description: 'Database unreachable or contention outlasted the retries (Retry-After)',
    messages: ['일시적으로 요청을 처리할 수 없습니다. 잠시 후 다시 시도해주세요.'],
  },
};

/** One operation of the spec: summary, body, headers and every outcome with its exact messages. */
export function ApiOperationDoc(options: {
  summary: string;
  body?: SchemaObject;
  idempotent?: boolean;
  outcomes: Outcomes;
}) {
  const outcomes = { ...options.outcomes, ...SHED };
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
            ...(outcome.messages
              ? {
                  examples: Object.fromEntries(
                    outcome.messages.map((message, index) => [
                      `example${index + 1}`,
                      { value: { statusCode: Number(status), message } },
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

export const BAD_INPUT = {
  description: 'Malformed body, id, key or date (names the field)',
  messages: ['userId은(는) 1 이상이어야 합니다.'],
};
export const UNKNOWN_EVENT = {
  description: 'Unknown eventKey',
  messages: ['존재하지 않는 이벤트입니다.'],
};
export const USER_TOKEN_REFUSED = {
  description:
    'End-user tokens are on and the Bearer JWT is missing, malformed, badly signed, of another issuer or ' +
    'audience, or expired (WWW-Authenticate: Bearer error="invalid_token")',
  messages: [
    '로그인이 필요합니다. Authorization: Bearer <토큰> 헤더를 보내주세요.',
    '인증 토큰이 유효하지 않습니다. 다시 로그인해주세요.',
    '인증 토큰이 만료되었습니다. 다시 로그인해주세요.',
  ],
};
export const OTHER_USER = {
  description: 'A valid end-user token whose subject is another user than the userId asked for',
  messages: ['다른 사용자의 티켓은 요청하거나 조회할 수 없습니다.'],
};
export const ADMIN_ONLY = {
  description: 'ADMIN_TOKEN is set and the Bearer token is missing or wrong',
  messages: ['관리자 인증이 필요합니다. Authorization: Bearer <관리자 토큰> 헤더를 확인해주세요.'],
};
