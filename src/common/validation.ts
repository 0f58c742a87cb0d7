import Ajv, { ValidateFunction } from 'ajv';
import * as Joi from 'joi';
import { InvalidInputError } from './errors/domain-errors';
import {
  hasZonedTimestampForm,
  isWireRepresentable,
  parseZonedTimestamp,
  truncateToSecond,
} from './time';

/**
 * Korean messages naming the offending field; `{#label}` is the field's path (e.g. `userId`). Joi's error
 * codes name them; the JSON-schema errors of the routes Fastify serves itself map onto the same codes.
 */
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
  'timestamp.impossible':
    '{#label}은(는) 달력에 없는 날짜나 시각입니다. (월 1~12, 그 달에 있는 날, 시 0~23, 분·초 0~59, 시간대 ±14:00 이내)',
  'timestamp.range':
    '{#label}은(는) 0001-01-01T00:00:00Z부터 9999-12-31T23:59:59Z 사이의 시각이어야 합니다.',
  'text.plain':
    '{#label}에는 제어 문자(줄바꿈, 탭, NUL 등)나 짝이 없는 서로게이트를 쓸 수 없습니다.',
  'period.ordered': 'startAt은 endAt보다 이전이어야 합니다.',
  'limit.withinTotal': 'dailyLimit은(는) totalQuantity 이하여야 합니다.',
  'object.min':
    '요청 본문에는 바꿀 항목(name, totalQuantity, dailyLimit, startAt, endAt, isActive)이 하나 이상 있어야 합니다.',
};

/** The message of a rule between fields (a schema's custom code), for a check made outside a schema. */
export function ruleMessage(code: 'period.ordered' | 'limit.withinTotal'): string {
  return KOREAN_MESSAGES[code] as string;
}

/** A positive integer id that survives a round trip through JSON and PostgreSQL bigint. */
export const positiveId = () => Joi.number().strict().integer().min(1).max(Number.MAX_SAFE_INTEGER);

/**
 * A timestamp that must carry its zone; truncated to whole seconds, the precision of the wire format, and
 * within the years the wire format can write (four digits, UTC).
 */
export const zonedTimestamp = () =>
  Joi.any().custom((value: unknown, helpers) => {
    if (typeof value !== 'string') return helpers.error('timestamp.zoned');
    const date = parseZonedTimestamp(value);
    // Written as a timestamp with its zone, but no such instant: say so, not that the zone is missing.
    if (!date) {
      return helpers.error(
        hasZonedTimestampForm(value) ? 'timestamp.impossible' : 'timestamp.zoned',
      );
    }
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

/**
 * Validates `value` against `schema` (from withKoreanMessages), or throws a 400 in the spec's shape naming
 * the field (a custom rule between fields names its own, as `{ field }` in its context).
 */
export function validate<T>(schema: Joi.Schema<T>, value: unknown): T {
  const result = schema.validate(value);
  if (result.error) {
    const [detail] = result.error.details;
    const field = (detail.context?.field as string | undefined) ?? detail.path.join('.');
    throw new InvalidInputError(detail.message, field || 'body');
  }
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

/**
 * The JSON-schema validator of the routes Fastify serves itself (http/fastify-route.ts), whose one schema is
 * their validation, their 400 messages and their OpenAPI operation. As strict as the joi schemas: no
 * coercion (`"1"` is not 1), nothing removed or defaulted; `verbose` keeps the offending value, which the
 * message depends on (1.5 is "not an integer", `"1"` "not a number").
 */
const ajv = new Ajv({
  coerceTypes: false,
  useDefaults: false,
  removeAdditional: false,
  // Every error, so the one reported is the one joi would report first (schemaValidationError).
  allErrors: true,
  verbose: true,
  // OpenAPI's annotation, shown in the document and meaningless to validation.
  keywords: ['example'],
});

/** Compiled once per route, at registration. */
export function compileRequestSchema(schema: object): ValidateFunction {
  return ajv.compile(schema);
}

/** What Fastify passes of an ajv error to a route's schemaErrorFormatter. */
interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  data?: unknown;
}

/** Names of what a request's part is, for an error about the whole of it. */
const PART_LABELS: Record<string, string> = { body: '요청 본문' };

/**
 * A 400 with the message joi would give (KOREAN_MESSAGES) for the error joi reports first: a declared
 * field's before an undeclared field's.
 */
export function schemaValidationError(errors: SchemaError[], part: string): InvalidInputError {
  const error = errors.find((e) => e.keyword !== 'additionalProperties') ?? errors[0];
  const path = error.instancePath.split('/').filter(Boolean);
  // A property named "" is shown quoted, not as nothing.
  const field = (name: unknown) => [...path, String(name) || '""'].join('.');
  const label = path.length > 0 ? path.join('.') : (PART_LABELS[part] ?? part);
  const { code, labelled = label } = messageCodeOf(error, field);
  const message = KOREAN_MESSAGES[code] as string;
  return new InvalidInputError(
    message.replace('{#label}', labelled).replace('{#limit}', String(error.params.limit)),
    // The field named, or the part as a whole (`body`).
    labelled !== label || path.length > 0 ? labelled : part,
  );
}

function messageCodeOf(
  { keyword, params, data }: SchemaError,
  field: (name: unknown) => string,
): { code: string; labelled?: string } {
  switch (keyword) {
    case 'required':
      return { code: 'any.required', labelled: field(params.missingProperty) };
    case 'additionalProperties':
      return { code: 'object.unknown', labelled: field(params.additionalProperty) };
    case 'type':
      // (Fastify validates an absent body as null: both are "not a JSON object".)
      return { code: typeCodeOf(String(params.type), data) };
    case 'minimum':
      return { code: 'number.min' };
    case 'maximum':
      return { code: 'number.max' };
    case 'minLength':
      return { code: 'string.min' };
    case 'maxLength':
      return { code: 'string.max' };
    case 'pattern':
      return { code: 'string.pattern.base' };
    default:
      return { code: 'any.invalid' };
  }
}

function typeCodeOf(expected: string, value: unknown): string {
  switch (expected) {
    case 'object':
      return 'object.base';
    case 'integer':
      if (typeof value !== 'number') return 'number.base';
      // 1e400 in JSON parses as Infinity.
      return Number.isFinite(value) ? 'number.integer' : 'number.infinity';
    case 'number':
      return 'number.base';
    case 'boolean':
      return 'boolean.base';
    case 'string':
      return 'string.base';
    default:
      return 'any.invalid';
  }
}
