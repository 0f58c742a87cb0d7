import { PipeTransform } from '@nestjs/common';
import type * as Joi from 'joi';
import { validate, withKoreanMessages } from './validation';

/** Validates a body or parameter with joi; a failure is a 400 in the spec's shape naming the field. */
export class JoiPipe<T> implements PipeTransform<unknown, T> {
  private readonly schema: Joi.Schema<T>;

  constructor(schema: Joi.Schema<T>) {
    // Compiled once per route, not per request.
    this.schema = withKoreanMessages(schema);
  }

  transform(value: unknown): T {
    return validate(this.schema, value);
  }
}
