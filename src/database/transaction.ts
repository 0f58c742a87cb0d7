import type { Knex } from 'knex';
import { isRetryableTransactionError } from './pg-errors';
import { ServiceUnavailableError } from '../common/errors/domain-errors';

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
}

export interface SerializableResult<T> {
  value: T;
  /** How many times the transaction was run again after a serialization failure or deadlock. */
  retries: number;
}

/**
 * Runs `work` in a SERIALIZABLE transaction, running it again on 40001/40P01 with full-jitter exponential
 * backoff. When the attempts run out the caller gets a ServiceUnavailableError (503), never a wrong answer.
 * `work` must be safe to run more than once: everything it does lives inside the transaction.
 */
export async function runSerializable<T>(
  knex: Knex,
  policy: RetryPolicy,
  work: (trx: Knex.Transaction) => Promise<T>,
): Promise<SerializableResult<T>> {
  for (let attempt = 1; ; attempt++) {
    try {
      const value = await knex.transaction(work, { isolationLevel: 'serializable' });
      return { value, retries: attempt - 1 };
    } catch (error) {
      if (!isRetryableTransactionError(error)) throw error;
      if (attempt >= policy.maxAttempts) throw new ServiceUnavailableError();
      const ceiling = policy.baseDelayMs * 2 ** Math.min(attempt - 1, 8);
      await sleep(Math.random() * ceiling);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
