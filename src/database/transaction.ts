import type { Knex } from 'knex';
import { AdvisoryLockKey, withAdvisoryLock } from './advisory-lock';
import { isRetryableTransactionError } from './pg-errors';
import { ServiceUnavailableError } from '../common/errors/domain-errors';

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  /** Told of every run again (metrics), including those of a transaction that gives up in the end. */
  onRetry?: () => void;
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
 *
 * With `lock`, every attempt runs under that advisory lock, taken before the transaction begins: writers
 * of the same thing (one event's batches on several instances) then queue instead of aborting each other,
 * and SERIALIZABLE stays the guard against anything else.
 */
export async function runSerializable<T>(
  knex: Knex,
  policy: RetryPolicy,
  work: (trx: Knex.Transaction) => Promise<T>,
  lock?: AdvisoryLockKey,
): Promise<SerializableResult<T>> {
  if (!lock) {
    return retrying(policy, () => knex.transaction(work, { isolationLevel: 'serializable' }));
  }
  return withAdvisoryLock(knex, lock, (connection) =>
    retrying(policy, () => knex.transaction(work, { isolationLevel: 'serializable', connection })),
  );
}

async function retrying<T>(
  policy: RetryPolicy,
  attempt: () => Promise<T>,
): Promise<SerializableResult<T>> {
  for (let run = 1; ; run++) {
    try {
      return { value: await attempt(), retries: run - 1 };
    } catch (error) {
      if (!isRetryableTransactionError(error)) throw error;
      // The last failure goes with the 503 to its log line: an operator sees contention, not a mystery.
      if (run >= policy.maxAttempts) throw new ServiceUnavailableError(1, error);
      policy.onRetry?.();
      const ceiling = policy.baseDelayMs * 2 ** Math.min(run - 1, 8);
      await sleep(Math.random() * ceiling);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
