import { RETRYABLE_ERRORS } from '../opcodes.ts';

/** The server answered a request (or a frame) with ERROR. */
export class GuildhallError extends Error {
  constructor(readonly code: number, message: string, readonly details: unknown = null) {
    super(`${code}: ${message}`);
    this.name = 'GuildhallError';
  }

  get retryable(): boolean {
    return RETRYABLE_ERRORS.has(this.code);
  }
}

/** The connection closed before the operation completed. `code` is the WebSocket close code. */
export class ConnectionClosedError extends Error {
  constructor(readonly code: number, readonly reason: string) {
    super(`connection closed (${code}${reason ? `: ${reason}` : ''})`);
    this.name = 'ConnectionClosedError';
  }
}

/** An HTTP endpoint answered with an error status. */
export class GuildhallHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | null,
    message: string,
    /** `field`: the request field at fault; `retryAfterMs`: when a rate-limited request may be retried. */
    readonly details: { field?: string; retryAfterMs?: number } = {},
  ) {
    super(`HTTP ${status}${code !== null ? ` (${code})` : ''}: ${message}`);
    this.name = 'GuildhallHttpError';
  }
}
