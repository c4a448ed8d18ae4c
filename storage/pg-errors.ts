/**
 * Translation of driver errors (pg and PGlite raise the same SQLSTATE codes) into the storage
 * errors of records.ts. Stores call `toStorageError` in their catch blocks.
 */
import { ConflictError, StorageUnavailableError } from './records.ts';

/** SQLSTATE unique_violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * SQLSTATEs after which the statement or transaction did not take effect for reasons outside the
 * request, so a retry may succeed: class 08 (connection exception) is matched by prefix.
 */
const RETRYABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '57P04', // database_dropped
  '57014', // query_canceled (statement_timeout)
  '53300', // too_many_connections
  '53100', // disk_full
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '25006', // read_only_sql_transaction (failover to a standby)
]);

/** Node socket error codes meaning the database is unreachable. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH',
  'EAI_AGAIN', 'ECONNABORTED',
]);

/** Messages of errors raised without a code by pg's client/pool and by a closed PGlite. */
const UNAVAILABLE_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /not queryable/i,
  /cannot use a pool after calling end/i,
  /client was closed/i,
  /pglite is closed/i,
  /driver has already been destroyed/i,
];

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True when `err` means the database could not be reached or the transaction did not commit. */
export function isUnavailableError(err: unknown): boolean {
  if (err instanceof StorageUnavailableError) return true;
  if (err === null || typeof err !== 'object') return false;
  const code = codeOf(err);
  if (code !== undefined) {
    if (code.startsWith('08') || RETRYABLE_SQLSTATES.has(code) || SOCKET_CODES.has(code)) return true;
  }
  if (err instanceof AggregateError && err.errors.some(isUnavailableError)) return true;
  const message = (err as { message?: unknown }).message;
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.some((re) => re.test(message));
}

/**
 * Maps `err` to a storage error: a unique violation on a constraint listed in `conflicts`
 * (constraint name → ConflictError field) becomes ConflictError, unreachable-database errors
 * become StorageUnavailableError; anything else (including unlisted unique violations, which are
 * programming errors) is returned unchanged.
 */
export function toStorageError(err: unknown, conflicts: Readonly<Record<string, string>> = {}): unknown {
  if (err instanceof ConflictError || err instanceof StorageUnavailableError) return err;
  if (codeOf(err) === UNIQUE_VIOLATION) {
    const constraint = (err as { constraint?: unknown }).constraint;
    const field = typeof constraint === 'string' ? conflicts[constraint] : undefined;
    if (field !== undefined) return new ConflictError(field);
    return err;
  }
  if (isUnavailableError(err)) return new StorageUnavailableError(err);
  return err;
}
