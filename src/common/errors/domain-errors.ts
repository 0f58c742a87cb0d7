/**
 * The reason codes of every refusal, one table: each answer that is not a success names its cause on the
 * request's log line (`reason`), so an operator can count why clients are refused. Stable: dashboards and
 * alerts match them. `validation:<field>` and `correction_refused:<field>` name the field (`body` for the
 * body as a whole, `path` for the path, `Idempotency-Key` for the header).
 */
export const REASON = {
  soldOut: 'sold_out',
  dailyLimit: 'daily_limit',
  outsidePeriod: 'outside_period',
  switchedOff: 'switched_off',
  notFound: 'not_found',
  eventKeyTaken: 'event_key_taken',
  keyReused: 'key_reused',
  keyInFlight: 'key_in_flight',
  unauthorized: 'unauthorized',
  tokenMissing: 'token_missing',
  tokenInvalid: 'token_invalid',
  tokenExpired: 'token_expired',
  otherUser: 'other_user',
  throttled: 'throttled',
  unavailable: 'unavailable',
  // Refused before a route runs: by Fastify, or by Node's HTTP parser (http/client-errors.ts).
  noRoute: 'no_route',
  unsupportedMediaType: 'unsupported_media_type',
  bodyTooLarge: 'body_too_large',
  requestTimeout: 'request_timeout',
  headersTooLarge: 'headers_too_large',
  malformedHttp: 'malformed_http',
  internal: 'internal',
} as const;

export const validationReason = (field: string) => `validation:${field}`;
export const correctionRefusedReason = (field: string) => `correction_refused:${field}`;

/**
 * Every outcome the API can refuse with, each carrying the status and the exact Korean message of the spec.
 * One exception filter turns them into `{ statusCode, message }`; nothing else decides a status.
 */
export abstract class DomainError extends Error {
  abstract readonly status: number;
  /** Its code in REASON, for the log line. */
  abstract readonly reason: string;
  /** Headers that belong to this outcome (e.g. Retry-After). */
  readonly headers: Record<string, string> = {};

  /** `cause`: what led to it, for the log line (never sent). */
  constructor(message: string, cause?: unknown) {
    // An expected outcome, not a bug: no stack trace to capture (thousands per second when sold out).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message, cause === undefined ? undefined : { cause });
    Error.stackTraceLimit = limit;
  }
}

/** Input refused whatever the event's state; names its field (`body` for the body as a whole). */
export class InvalidInputError extends DomainError {
  readonly status = 400;
  readonly reason: string;

  constructor(message: string, field = 'body') {
    super(message);
    this.reason = validationReason(field);
  }
}

/** A correction that would turn an answer already given into a lie (events/event-rules.ts). */
export class EventCorrectionRefusedError extends DomainError {
  readonly status = 409;
  readonly reason: string;

  constructor(field: string, message: string) {
    super(message);
    this.reason = correctionRefusedReason(field);
  }
}

export class EventNotFoundError extends DomainError {
  readonly status = 404;
  readonly reason = REASON.notFound;
  constructor() {
    super('존재하지 않는 이벤트입니다.');
  }
}

export class EventKeyTakenError extends DomainError {
  readonly status = 409;
  readonly reason = REASON.eventKeyTaken;
  constructor() {
    super('이미 존재하는 이벤트입니다.');
  }
}

export class OutsideEventPeriodError extends DomainError {
  readonly status = 400;
  readonly reason = REASON.outsidePeriod;
  constructor() {
    super('이벤트 기간이 아닙니다.');
  }
}

export class EventSwitchedOffError extends DomainError {
  readonly status = 400;
  readonly reason = REASON.switchedOff;
  constructor() {
    super('현재 발급이 중단된 이벤트입니다.');
  }
}

export class SoldOutError extends DomainError {
  readonly status = 409;
  readonly reason = REASON.soldOut;
  constructor() {
    super('티켓이 모두 소진되었습니다.');
  }
}

export class DailyLimitReachedError extends DomainError {
  readonly status = 409;
  readonly reason = REASON.dailyLimit;
  constructor() {
    super('오늘의 발급 한도에 도달했습니다. 내일 다시 시도해주세요.');
  }
}

export class IdempotencyKeyMalformedError extends DomainError {
  readonly status = 400;
  readonly reason = validationReason('Idempotency-Key');
  constructor() {
    super('Idempotency-Key 헤더는 1~255자의 출력 가능한 ASCII 문자여야 합니다.');
  }
}

/** One key per request (IETF httpapi draft): two headers are refused, never joined into one key. */
export class IdempotencyKeyRepeatedError extends DomainError {
  readonly status = 400;
  readonly reason = validationReason('Idempotency-Key');
  constructor() {
    super('Idempotency-Key 헤더는 하나만 보낼 수 있습니다.');
  }
}

export class IdempotencyKeyReusedError extends DomainError {
  readonly status = 422;
  readonly reason = REASON.keyReused;
  constructor() {
    super('이 Idempotency-Key는 다른 요청에 이미 사용되었습니다. 새 키로 요청해주세요.');
  }
}

export class IdempotencyKeyInFlightError extends DomainError {
  readonly status = 409;
  readonly reason = REASON.keyInFlight;
  constructor(retryAfterSeconds: number) {
    super('같은 Idempotency-Key의 요청이 아직 처리 중입니다. 잠시 후 다시 시도해주세요.');
    this.headers['retry-after'] = String(retryAfterSeconds);
  }
}

export class AdminCredentialsError extends DomainError {
  readonly status = 401;
  readonly reason = REASON.unauthorized;
  constructor() {
    super('관리자 인증이 필요합니다. Authorization: Bearer <관리자 토큰> 헤더를 확인해주세요.');
    this.headers['www-authenticate'] = 'Bearer';
  }
}

/** RFC 6750: every refusal of an end-user token says `invalid_token`, so clients know to sign in again. */
abstract class UserTokenError extends DomainError {
  readonly status = 401;
  constructor(message: string) {
    super(message);
    this.headers['www-authenticate'] = 'Bearer error="invalid_token"';
  }
}

export class UserTokenMissingError extends UserTokenError {
  readonly reason = REASON.tokenMissing;
  constructor() {
    super('로그인이 필요합니다. Authorization: Bearer <토큰> 헤더를 보내주세요.');
  }
}

export class UserTokenInvalidError extends UserTokenError {
  readonly reason = REASON.tokenInvalid;
  constructor() {
    super('인증 토큰이 유효하지 않습니다. 다시 로그인해주세요.');
  }
}

export class UserTokenExpiredError extends UserTokenError {
  readonly reason = REASON.tokenExpired;
  constructor() {
    super('인증 토큰이 만료되었습니다. 다시 로그인해주세요.');
  }
}

/** A valid token for another user than the one asked for. */
export class OtherUserError extends DomainError {
  readonly status = 403;
  readonly reason = REASON.otherUser;
  constructor() {
    super('다른 사용자의 티켓은 요청하거나 조회할 수 없습니다.');
  }
}

export class MetricsCredentialsError extends DomainError {
  readonly status = 401;
  readonly reason = REASON.unauthorized;
  constructor() {
    super(
      '메트릭 조회 인증이 필요합니다. Authorization: Bearer <메트릭 토큰> 헤더를 확인해주세요.',
    );
    this.headers['www-authenticate'] = 'Bearer';
  }
}

export class TooManyRequestsError extends DomainError {
  readonly status = 429;
  readonly reason = REASON.throttled;
  constructor(retryAfterSeconds: number) {
    super('요청이 너무 많습니다. 잠시 후 다시 시도해주세요.');
    this.headers['retry-after'] = String(retryAfterSeconds);
  }
}

/** The database is unreachable, or contention outlasted the retry budget: the client may retry. */
export class ServiceUnavailableError extends DomainError {
  readonly status = 503;
  readonly reason = REASON.unavailable;
  constructor(retryAfterSeconds = 1, cause?: unknown) {
    super('일시적으로 요청을 처리할 수 없습니다. 잠시 후 다시 시도해주세요.', cause);
    this.headers['retry-after'] = String(retryAfterSeconds);
  }
}
