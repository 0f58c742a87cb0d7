import * as Joi from 'joi';
import { positiveId } from '../common/validation';

export interface IssueTicketInput {
  userId: number;
}

export const issueTicketSchema = Joi.object<IssueTicketInput>({
  userId: positiveId().required(),
})
  .required()
  .label('요청 본문');
