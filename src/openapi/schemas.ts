import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { EVENT_KEY, EVENT_KEY_MAX_LENGTH } from '../events/event.schemas';

/**
 * JSON Schemas of the wire format, for the OpenAPI document (and, through it, the contract tests); the
 * request schemas of the routes Fastify serves itself live with their feature (tickets/ticket.schemas.ts).
 */

const timestamp: SchemaObject = {
  type: 'string',
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$',
  example: '2026-01-15T10:00:00Z',
};
// Request examples are an event open from a past day to a far one, so "Try it out" issues tickets whatever
// the day (test/openapi.e2e.spec.ts runs them on today's clock and a year later).
const zonedTimestampIn: SchemaObject = {
  type: 'string',
  description: 'ISO-8601 with a zone (Z or ±hh:mm); fractions are truncated to whole seconds.',
  example: '2026-01-01T00:00:00+09:00',
};
export const eventKey: SchemaObject = {
  type: 'string',
  // The length before the pattern: an over-long key is told its length (the first error reported).
  minLength: 1,
  maxLength: EVENT_KEY_MAX_LENGTH,
  pattern: EVENT_KEY.source,
  example: 'launch',
};
export const positiveInt: SchemaObject = { type: 'integer', minimum: 1 };
/** A userId in a path: what JSON and PostgreSQL bigint both keep exactly. */
export const userIdParam: SchemaObject = {
  ...positiveInt,
  maximum: Number.MAX_SAFE_INTEGER,
  example: 42,
};

export const createEventBody: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['eventKey', 'name', 'totalQuantity', 'startAt', 'endAt'],
  properties: {
    eventKey,
    name: { type: 'string', minLength: 1, maxLength: 200, example: '런칭 이벤트' },
    totalQuantity: { ...positiveInt, maximum: 2147483647, example: 2000 },
    dailyLimit: {
      ...positiveInt,
      maximum: 2147483647,
      nullable: true,
      description: 'absent or null: no daily cap',
      example: 500,
    },
    startAt: zonedTimestampIn,
    endAt: {
      ...zonedTimestampIn,
      description: 'after startAt',
      example: '2099-12-31T23:59:59+09:00',
    },
  },
};

export const correctEventBody: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  description:
    'Any of the fields, at least one; never eventKey. A field sent with its current value changes nothing.',
  properties: {
    name: createEventBody.properties!.name,
    totalQuantity: createEventBody.properties!.totalQuantity,
    dailyLimit: createEventBody.properties!.dailyLimit,
    startAt: { ...zonedTimestampIn, description: 'before endAt; only before the event opens' },
    endAt: {
      ...zonedTimestampIn,
      description: 'after startAt and after now; only until the event has ended',
      example: '2099-12-31T23:59:59+09:00',
    },
    isActive: { type: 'boolean', description: 'the switch: false stops issuing', example: false },
  },
};

/** What a correction may change, and when (the operation's description; README "choices" says why). */
export const CORRECTION_RULES = [
  'Corrects a mistyped event, or switches issuing off or on. Decided in one transaction that runs between',
  "two issuance batches of the event, against the committed counts; every instance's reads and final",
  'refusals follow within a second.',
  '',
  '- **Before the event opens** (now < startAt, no ticket issued): any field, with the checks of a creation',
  '  (startAt < endAt, endAt after now, dailyLimit ≤ totalQuantity).',
  '- **Once it is open**, only what keeps every answer already given true:',
  '  - `name`, `isActive`: always;',
  '  - `totalQuantity`: never below the tickets issued; raised only while not sold out (sold out is final);',
  "  - `dailyLimit`: never below today's (KST) count; raised or removed (`null`) only while today's cap is",
  '    not reached (the cap answered today holds until 00:00 KST);',
  '  - `startAt`: fixed; `endAt`: movable while the event has not ended, never to now or before; fixed once',
  '    it has ended.',
  '',
  'A mistake whatever the state (startAt ≥ endAt, dailyLimit > totalQuantity, endAt not after now) is a 400;',
  "a change the event's state refuses is a 409; both name the field. `eventKey` never changes (400).",
].join('\n');

/** The fields every event answer shares. */
const eventFields: Record<string, SchemaObject> = {
  eventKey,
  name: { type: 'string' },
  totalQuantity: positiveInt,
  dailyLimit: { ...positiveInt, nullable: true },
  remainingQuantity: { type: 'integer', minimum: 0 },
  startAt: timestamp,
  endAt: timestamp,
};

function eventShape(extra: Record<string, SchemaObject>): SchemaObject {
  const properties = { ...eventFields, ...extra };
  return {
    type: 'object',
    additionalProperties: false,
    required: Object.keys(properties),
    properties,
  };
}

/** `POST /events` answer. */
export const createdEvent = eventShape({ createdAt: timestamp });

/** `GET /events/:eventKey`, `GET /events` items and `PATCH` answers. */
export const event = eventShape({
  todayIssuedCount: { type: 'integer', minimum: 0, description: 'issued in the current KST day' },
  isActive: { type: 'boolean', description: 'inside the period and switched on' },
});

export const ticket: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['ticketId', 'userId', 'eventKey', 'issuedAt'],
  properties: {
    ticketId: {
      type: 'string',
      description: 'opaque unique id',
      example: 'b939c14f-4584-45ee-92ab-8071ccaaa287',
    },
    userId: positiveInt,
    eventKey,
    issuedAt: timestamp,
  },
};

export const userTicket: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['ticketId', 'eventKey', 'eventName', 'issuedAt'],
  properties: {
    ticketId: { type: 'string' },
    eventKey,
    eventName: { type: 'string' },
    issuedAt: timestamp,
  },
};

export const error: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['statusCode', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    message: { type: 'string', description: 'Korean, shown to users as is' },
  },
};

export const health: SchemaObject = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string' } },
};
