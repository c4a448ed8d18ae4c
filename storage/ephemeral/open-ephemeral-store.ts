/**
 * Chooses the ephemeral store from configuration: Redis when a URL is given (required as soon as
 * more than one engine process shares sessions), otherwise the in-process memory store.
 */
import type { EphemeralStore } from './ephemeral-store.ts';
import { MemoryEphemeralStore } from './memory-ephemeral-store.ts';
import { RedisEphemeralStore } from './redis-ephemeral-store.ts';

export interface OpenEphemeralStoreOptions {
  /** e.g. redis://127.0.0.1:6379/0; unset or empty → memory store. */
  redisUrl?: string;
  /** Key namespace; default 'guildhall:'. */
  prefix?: string;
  /** Receives Redis connection errors (which also surface as rejected operations). */
  onConnectionError?: (err: Error) => void;
}

/**
 * Opens the store; the caller owns it and must close() it. The Redis connection is opened lazily
 * in the background: connection failures surface as rejected operations, not here.
 */
export function openEphemeralStore(opts: OpenEphemeralStoreOptions = {}): EphemeralStore {
  const prefix = opts.prefix ?? 'guildhall:';
  if (opts.redisUrl) return new RedisEphemeralStore(opts.redisUrl, { prefix, onConnectionError: opts.onConnectionError });
  return new MemoryEphemeralStore({ prefix });
}
