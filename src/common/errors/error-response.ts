import { HttpException } from '@nestjs/common';
import { DomainError, REASON, ServiceUnavailableError, validationReason } from './domain-errors';
import { isDatabaseUnavailable } from '../../database/pg-errors';

export interface ErrorBody {
  statusCode: number;
  message: string;
}

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** Its code in REASON, for the request's log line (never sent). */
  reason: string;
}

const MESSAGES_BY_STATUS: Record<number, string> = {
  400: '요청 형식이 올바르지 않습니다.',
  401: '인증이 필요합니다.',
  403: '접근 권한이 없습니다.',
  404: '요청한 경로를 찾을 수 없습니다.',
  405: '허용되지 않는 메서드입니다.',
  408: '요청을 제시간에 다 받지 못했습니다. 다시 시도해주세요.',
  413: '요청 본문이 너무 큽니다.',
  415: '지원하지 않는 Content-Type입니다. application/json으로 보내주세요.',
  431: '요청 헤더가 너무 큽니다.',
  500: '서버 내부 오류가 발생했습니다.',
};

/** The reason of a refusal known only by its status (Fastify's, Node's). */
const REASONS_BY_STATUS: Record<number, string> = {
  400: validationReason('body'),
  401: REASON.unauthorized,
  404: REASON.noRoute,
  408: REASON.requestTimeout,
  413: REASON.bodyTooLarge,
  415: REASON.unsupportedMediaType,
  431: REASON.headersTooLarge,
};

/**
 * Fastify's own refusals before a route handler runs (Nest hands them over as HttpExceptions carrying
 * Fastify's English message), told apart by that message.
 */
const FASTIFY_REFUSALS: Array<[RegExp, string, string]> = [
  [/not valid JSON/i, '요청 본문이 올바른 JSON이 아닙니다.', validationReason('body')],
  [
    /cannot be empty/i,
    '요청 본문이 비어 있습니다. JSON 객체를 보내주세요.',
    validationReason('body'),
  ],
  [
    /not a valid url component/i,
    '요청 경로의 퍼센트 인코딩이 올바르지 않습니다.',
    validationReason('path'),
  ],
];

/**
 * The one mapping from anything thrown to the spec's error shape. Used by the exception filter and by the
 * idempotency layer (which stores the very same answer), so the two can never disagree.
 * Unknown errors become a bare 500: no stack, SQL or internal name leaves the process.
 */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (error instanceof DomainError) {
    return {
      status: error.status,
      body: { statusCode: error.status, message: error.message },
      headers: error.headers,
      reason: error.reason,
    };
  }
  const status = httpStatusOf(error);
  if (isDatabaseUnavailable(error) || status === 503) {
    return toErrorResponse(new ServiceUnavailableError());
  }
  if (status !== undefined && status < 500) {
    const text = error instanceof Error ? error.message : '';
    const known = FASTIFY_REFUSALS.find(([pattern]) => pattern.test(text));
    const message = known?.[1] ?? MESSAGES_BY_STATUS[status] ?? MESSAGES_BY_STATUS[400];
    const reason = known?.[2] ?? REASONS_BY_STATUS[status] ?? validationReason('body');
    return { status, body: { statusCode: status, message }, headers: {}, reason };
  }
  return {
    status: 500,
    body: { statusCode: 500, message: MESSAGES_BY_STATUS[500] },
    headers: {},
    reason: REASON.internal,
  };
}

/** Nest's HttpException, or a Fastify error (bad JSON, body too large, wrong content type). */
function httpStatusOf(error: unknown): number | undefined {
  if (error instanceof HttpException) return error.getStatus();
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === 'number' && statusCode >= 400 && statusCode < 600
    ? statusCode
    : undefined;
}
