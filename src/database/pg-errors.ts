import { DATABASE_SILENT } from './silence-guard';

/** SQLSTATE codes the service reacts to. */
export const UNIQUE_VIOLATION = '23505';
const SERIALIZATION_FAILURE = '40001';
const LOCK_NOT_AVAILABLE = '55P03';
const DEADLOCK_DETECTED = '40P01';

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EPIPE',
  DATABASE_SILENT, // no answer within DB_QUERY_TIMEOUT_MS
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '57014', // query_canceled (statement_timeout)
  LOCK_NOT_AVAILABLE, // lock_timeout
  '53300', // too_many_connections
]);

interface PgErrorLike {
  code?: unknown;
  constraint?: unknown;
  /** objection wraps driver errors (UniqueViolationError, DBError) and keeps the original here. */
  nativeError?: PgErrorLike;
}

function driverError(error: unknown): PgErrorLike | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const candidate = error as PgErrorLike;
  return candidate.nativeError ?? candidate;
}

function codeOf(error: unknown): string | undefined {
  const code = driverError(error)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  return (
    codeOf(error) === UNIQUE_VIOLATION &&
    (constraint === undefined || driverError(error)?.constraint === constraint)
  );
}

/** A transaction that lost a race and may simply be run again. */
export function isRetryableTransactionError(error: unknown): boolean {
  const code = codeOf(error);
  return code === SERIALIZATION_FAILURE || code === DEADLOCK_DETECTED;
}

/** A lock wait ran past lock_timeout. */
export function isLockTimeout(error: unknown): boolean {
  return codeOf(error) === LOCK_NOT_AVAILABLE;
}

/** The database cannot be reached or is shedding us: a 503, not a 500. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = codeOf(error);
  if (code !== undefined && (CONNECTION_ERROR_CODES.has(code) || code.startsWith('08'))) {
    return true;
  }
  const original = driverError(error);
  const message = original instanceof Error ? original.message : '';
  return (
    original instanceof Error &&
    (original.name === 'KnexTimeoutError' ||
      /Connection terminated|connect ECONNREFUSED|Client has encountered a connection error|is not queryable/.test(
        message,
      ))
  );
}
