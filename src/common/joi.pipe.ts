import { PipeTransform } from '@nestjs/common';
import type * as Joi from 'joi';
import { validate } from './validation';

/** Validates a body or parameter with joi; a failure is a 400 in the spec's shape naming the field. */
export class JoiPipe<T> implements PipeTransform<unknown, T> {
  constructor(private readonly schema: Joi.Schema<T>) {}

  transform(value: unknown): T {
    return validate(this.schema, value);
  }
}
