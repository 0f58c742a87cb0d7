/** The answer kept for a key: status, the exact body bytes, and the headers worth replaying. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Ownership of an Idempotency-Key for the duration of one request. `token` proves ownership: a claim taken over
 * after its lock timed out can no longer store or release anything.
 */
export class IdempotencyClaim {
  /** Set once the answer is stored, e.g. by a use case inside its own transaction. */
  stored = false;

  constructor(
    readonly key: string,
    readonly token: string,
  ) {}
}
