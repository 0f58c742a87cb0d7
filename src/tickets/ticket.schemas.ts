import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { eventKey, positiveInt } from '../openapi/schemas';

export interface IssueTicketParams {
  eventKey: string;
}

export interface IssueTicketInput {
  userId: number;
}

/** `POST /events/:eventKey/tickets`: its validation, its 400 messages and its OpenAPI operation. */
export const issueTicketSchema: { params: SchemaObject; body: SchemaObject } = {
  params: {
    type: 'object',
    required: ['eventKey'],
    properties: { eventKey },
  },
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['userId'],
    properties: { userId: { ...positiveInt, maximum: Number.MAX_SAFE_INTEGER, example: 42 } },
  },
};
