import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { EVENT_KEY } from '../events/event.schemas';

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
  pattern: EVENT_KEY.source,
  example: 'launch',
};
export const positiveInt: SchemaObject = { type: 'integer', minimum: 1 };

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

export const setEventActiveBody: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['isActive'],
  properties: { isActive: { type: 'boolean', example: false } },
};

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
