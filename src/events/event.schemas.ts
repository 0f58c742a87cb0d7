import * as Joi from 'joi';
import { plainText, zonedTimestamp } from '../common/validation';

export const EVENT_KEY = /^[A-Za-z0-9_-]{1,100}$/;

export interface CreateEventInput {
  eventKey: string;
  name: string;
  totalQuantity: number;
  dailyLimit: number | null;
  startAt: Date;
  endAt: Date;
}

export interface SetEventActiveInput {
  isActive: boolean;
}

const quantity = () => Joi.number().strict().integer().min(1).max(2_147_483_647);

export const eventKeySchema = Joi.string().pattern(EVENT_KEY).required().label('eventKey');

export const createEventSchema = Joi.object<CreateEventInput>({
  eventKey: Joi.string().strict().min(1).max(100).pattern(EVENT_KEY).required(),
  name: plainText().min(1).max(200).required(),
  totalQuantity: quantity().required(),
  dailyLimit: quantity().allow(null).default(null),
  startAt: zonedTimestamp().required(),
  endAt: zonedTimestamp().required(),
})
  .required()
  .label('요청 본문')
  .custom((input: CreateEventInput, helpers) =>
    input.startAt.getTime() < input.endAt.getTime() ? input : helpers.error('period.ordered'),
  );

export const setEventActiveSchema = Joi.object<SetEventActiveInput>({
  isActive: Joi.boolean().strict().required(),
})
  .required()
  .label('요청 본문');
