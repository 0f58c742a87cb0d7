/**
 * Two transactions raced to issue to the same user. Carries SQLSTATE 40001 so the SERIALIZABLE retry loop runs
 * the transaction again, where the winner's ticket is then found and returned.
 */
export class ConcurrentIssuanceError extends Error {
  readonly code = '40001';

  constructor() {
    super('concurrent issuance to the same user');
  }
}
