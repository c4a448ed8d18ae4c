/** Turns anything a command threw into the (code, message, details) of an ERROR frame. */
import type { Logger } from 'pino';
import { ErrorCode } from '../../protocol/opcodes.ts';
import { StorageUnavailableError } from '../../storage/records.ts';
import { CommandError } from '../command-error.ts';

export interface WireError {
  code: number;
  message: string;
  details: Record<string, unknown> | null;
}

export function toWireError(err: unknown, logger: Logger, context: Record<string, unknown>): WireError {
  if (err instanceof CommandError) return { code: err.code, message: err.message, details: err.details };
  if (err instanceof StorageUnavailableError) {
    logger.warn({ err, ...context }, 'storage unavailable');
    return { code: ErrorCode.UNAVAILABLE, message: 'storage temporarily unavailable, retry later', details: null };
  }
  logger.error({ err, ...context }, 'command failed');
  return { code: ErrorCode.INTERNAL, message: 'internal error', details: null };
}
