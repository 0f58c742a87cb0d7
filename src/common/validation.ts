import * as Joi from 'joi';
import { InvalidInputError } from './errors/domain-errors';
import { isWireRepresentable, parseZonedTimestamp, truncateToSecond } from './time';

/** Korean messages naming the offending field; `{#label}` is the field's path (e.g. `userId`). */
const KOREAN_MESSAGES: Joi.LanguageMessages = {
  'any.required': '{#label}은(는) 필수 항목입니다.',
  'any.unknown': '{#label}은(는) 허용되지 않는 항목입니다.',
  'object.unknown': '{#label}은(는) 허용되지 않는 항목입니다.',
  'object.base': '요청 본문은 JSON 객체여야 합니다.',
  'any.invalid': '{#label} 값이 올바르지 않습니다.',
  'any.only': '{#label} 값이 올바르지 않습니다.',
  'boolean.base': '{#label}은(는) true 또는 false여야 합니다.',
  'number.base': '{#label}은(는) 숫자여야 합니다.',
  'number.integer': '{#label}은(는) 정수여야 합니다.',
  'number.min': '{#label}은(는) {#limit} 이상이어야 합니다.',
  'number.max': '{#label}은(는) {#limit} 이하여야 합니다.',
  'number.unsafe': '{#label}이(가) 너무 큽니다.',
  'number.infinity': '{#label}은(는) 유한한 숫자여야 합니다.',
  'string.base': '{#label}은(는) 문자열이어야 합니다.',
  'string.empty': '{#label}은(는) 비어 있을 수 없습니다.',
  'string.min': '{#label}은(는) {#limit}자 이상이어야 합니다.',
  'string.max': '{#label}은(는) {#limit}자 이하여야 합니다.',
  'string.pattern.base': '{#label} 형식이 올바르지 않습니다.',
  'string.pattern.name': '{#label} 형식이 올바르지 않습니다.',
  'date.base': '{#label}은(는) 시간대(Z 또는 +09:00)를 포함한 ISO-8601 시각이어야 합니다.',
  'timestamp.zoned':
    '{#label}은(는) 시간대(Z 또는 +09:00)를 포함한 ISO-8601 시각이어야 합니다. 예: 2026-01-15T10:00:00Z',
  'timestamp.range':
    '{#label}은(는) 0001-01-01T00:00:00Z부터 9999-12-31T23:59:59Z 사이의 시각이어야 합니다.',
  'text.plain':
    '{#label}에는 제어 문자(줄바꿈, 탭, NUL 등)나 짝이 없는 서로게이트를 쓸 수 없습니다.',
  'period.ordered': 'startAt은 endAt보다 이전이어야 합니다.',
};

/** A positive integer id that survives a round trip through JSON and PostgreSQL bigint. */
export const positiveId = () => Joi.number().strict().integer().min(1).max(Number.MAX_SAFE_INTEGER);

/**
 * A timestamp that must carry its zone; truncated to whole seconds, the precision of the wire format, and
 * within the years the wire format can write (four digits, UTC).
 */
export const zonedTimestamp = () =>
  Joi.any().custom((value: unknown, helpers) => {
    const date = typeof value === 'string' ? parseZonedTimestamp(value) : undefined;
    if (!date) return helpers.error('timestamp.zoned');
    return isWireRepresentable(date) ? truncateToSecond(date) : helpers.error('timestamp.range');
  });

/** C0 controls, DEL, and (in unicode mode) lone surrogates, which PostgreSQL or UTF-8 cannot keep as sent. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NOT_PLAIN_TEXT = /[\u0000-\u001f\u007f\ud800-\udfff]/u;

/** A display text: a string without control characters, kept exactly as sent. */
export const plainText = () =>
  Joi.string()
    .strict()
    .custom((value: string, helpers) =>
      NOT_PLAIN_TEXT.test(value) ? helpers.error('text.plain') : value,
    );

/**
 * The schema with the Korean messages and every validation preference; compile once, validate often
 * (options passed to validate() itself would recompile the messages on every call).
 */
export function withKoreanMessages<T>(schema: Joi.Schema<T>): Joi.Schema<T> {
  return schema.prefs({
    abortEarly: true,
    convert: true,
    messages: KOREAN_MESSAGES,
    errors: { wrap: { label: false } },
  });
}

/** Validates `value` against `schema` (from withKoreanMessages), or throws a 400 in the spec's shape. */
export function validate<T>(schema: Joi.Schema<T>, value: unknown): T {
  const result = schema.validate(value);
  if (result.error) throw new InvalidInputError(result.error.details[0].message);
  return result.value;
}

/** A positive integer id in a path segment (`/users/42/tickets`), returned as a number. */
export const positiveIdParam = (label: string) =>
  Joi.string()
    .pattern(/^[1-9][0-9]{0,15}$/)
    .custom((value: string, helpers) =>
      Number(value) <= Number.MAX_SAFE_INTEGER ? Number(value) : helpers.error('number.unsafe'),
    )
    .label(label)
    .messages({ 'string.pattern.base': '{#label}은(는) 1 이상의 정수여야 합니다.' });
