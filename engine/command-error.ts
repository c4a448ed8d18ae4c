import { ErrorCode, type ErrorCodeValue } from '../protocol/opcodes.ts';

/** A command failed for a reason the client can act on; becomes an ERROR frame with this code. */
export class CommandError extends Error {
  constructor(
    readonly code: ErrorCodeValue,
    message: string,
    readonly details: Record<string, unknown> | null = null,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

export const notFound = (code: ErrorCodeValue, what: string) => new CommandError(code, `unknown ${what}`);
export const forbidden = (message: string) => new CommandError(ErrorCode.FORBIDDEN, message);
