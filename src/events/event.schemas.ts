import * as Joi from 'joi';
import { plainText, zonedTimestamp } from '../common/validation';
import type { CorrectableFields } from './event.model';

export const EVENT_KEY = /^[A-Za-z0-9_-]{1,100}$/;
export const EVENT_KEY_MAX_LENGTH = 100;

export interface CreateEventInput {
  eventKey: string;
  name: string;
  totalQuantity: number;
  dailyLimit: number | null;
  startAt: Date;
  endAt: Date;
}

/** A PATCH: any of the correctable fields, at least one. */
export type CorrectEventInput = Partial<CorrectableFields>;

const quantity = () => Joi.number().strict().integer().min(1).max(2_147_483_647);

/** A key as the routes take it: its length first, so an over-long key is told so (any pipeline). */
const eventKey = () => Joi.string().strict().min(1).max(EVENT_KEY_MAX_LENGTH).pattern(EVENT_KEY);

export const eventKeyParamsSchema = Joi.object({ eventKey: eventKey().required() });

/**
 * Rules between the fields of one body, whatever the event's state (so before the Idempotency-Key is
 * looked at): the period ordered, a daily cap the total can reach. The error names its field.
 */
function betweenFields<T extends Partial<CorrectableFields>>(input: T, helpers: Joi.CustomHelpers) {
  const { startAt, endAt, totalQuantity, dailyLimit } = input;
  if (startAt && endAt && startAt.getTime() >= endAt.getTime()) {
    return helpers.error('period.ordered', { field: 'startAt' });
  }
  if (typeof dailyLimit === 'number' && totalQuantity !== undefined && dailyLimit > totalQuantity) {
    return helpers.error('limit.withinTotal', { field: 'dailyLimit' });
  }
  return input;
}

export const createEventSchema = Joi.object<CreateEventInput>({
  eventKey: eventKey().required(),
  name: plainText().min(1).max(200).required(),
  totalQuantity: quantity().required(),
  dailyLimit: quantity().allow(null).default(null),
  startAt: zonedTimestamp().required(),
  endAt: zonedTimestamp().required(),
})
  .required()
  .label('요청 본문')
  .custom(betweenFields);

export const correctEventSchema = Joi.object<CorrectEventInput & { eventKey?: never }>({
  name: plainText().min(1).max(200),
  totalQuantity: quantity(),
  dailyLimit: quantity().allow(null),
  startAt: zonedTimestamp(),
  endAt: zonedTimestamp(),
  isActive: Joi.boolean().strict(),
  // The key is the event's identity (its URLs, its tickets, every stored answer): never corrected.
  eventKey: Joi.any().forbidden().messages({
    'any.unknown': 'eventKey은(는) 바꿀 수 없습니다. 다른 키가 필요하면 새 이벤트를 만들어주세요.',
  }),
})
  .min(1)
  .required()
  .label('요청 본문')
  .custom(betweenFields);
