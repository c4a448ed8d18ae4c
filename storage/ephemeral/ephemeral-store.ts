/**
 * The ephemeral store port: short-lived, shared state that may be lost on restart without losing
 * data of record — sessions, refresh tokens, and later rate-limit counters and presence. Semantics
 * follow Redis so that the in-memory reference implementation and the Redis one are
 * interchangeable; test/integration/ephemeral-store.test.ts runs one conformance suite against both.
 *
 * Common rules for every implementation:
 * - Keys are plain strings chosen by the caller. An implementation may namespace them with a
 *   `prefix` constructor option; the prefix is invisible to callers.
 * - A key holds exactly one kind of value: a string, a hash (field → string) or a set (of strings).
 *   Using a key with an operation of another kind rejects (Redis WRONGTYPE); so does `incr` on a
 *   string that is not a decimal integer.
 * - TTLs are in milliseconds and must be finite and > 0 (fractions are rounded up); any other TTL
 *   rejects with a RangeError. An expired key behaves exactly like a missing key.
 * - A hash or set whose last field/member is removed ceases to exist (with its TTL).
 * - Every operation is atomic with respect to every other operation on the same store backend,
 *   including operations issued concurrently from other processes sharing the backend.
 */
import type { TokenBucketResult, TokenBucketSpec } from './token-bucket.ts';

export type { TokenBucketResult, TokenBucketSpec } from './token-bucket.ts';

export interface EphemeralSetOptions {
  /** Expire the key this many ms after the write. Without it the key has no expiry (any previous TTL is cleared). */
  ttlMs?: number;
  /** Write only if the key does not exist (Redis SET NX). */
  onlyIfAbsent?: boolean;
}

export interface EphemeralStore {
  /** The string stored at `key`, or null if the key does not exist. */
  get(key: string): Promise<string | null>;

  /**
   * Stores a string at `key`, replacing any value of any kind. Resolves true when written, false
   * only when `onlyIfAbsent` is set and the key already exists (the existing key is then untouched).
   */
  set(key: string, value: string, opts?: EphemeralSetOptions): Promise<boolean>;

  /** Deletes the keys (of any kind); resolves the number that existed. No keys → 0. */
  del(...keys: string[]): Promise<number>;

  /** Atomically reads the string at `key` and deletes the key; null if it did not exist. */
  getDel(key: string): Promise<string | null>;

  /**
   * Atomically replaces the string at `key` with `next` if its current value equals `expected`
   * (`expected === null` means "the key does not exist"). Resolves true if replaced. With `ttlMs`
   * the key then expires after ttlMs; without it the key keeps its previous TTL (a key created
   * from null has none). Among any number of concurrent calls with the same `expected`, at most
   * one succeeds.
   */
  compareAndSet(key: string, expected: string | null, next: string, ttlMs?: number): Promise<boolean>;

  /**
   * Atomically increments the integer at `key` by 1 and resolves the new value. A missing key
   * counts as 0; only when the key is created by this call is `ttlMs` applied — an existing key
   * keeps its TTL (or lack of one), so a fixed-window counter expires at the end of its window.
   */
  incr(key: string, ttlMs?: number): Promise<number>;

  /** Sets the key's TTL, replacing any previous one. Resolves false if the key does not exist. */
  expire(key: string, ttlMs: number): Promise<boolean>;

  /** Remaining lifetime of the key in ms (> 0), or null if it does not exist or has no expiry. */
  ttlMs(key: string): Promise<number | null>;

  /**
   * Sets one field, or every field of `fields`, of the hash at `key` (creating it without TTL if
   * missing; an existing hash keeps its TTL). Resolves the number of fields that were new.
   */
  hSet(key: string, field: string, value: string): Promise<number>;
  hSet(key: string, fields: Readonly<Record<string, string>>): Promise<number>;

  /** One field of the hash at `key`, or null if the field or the key does not exist. */
  hGet(key: string, field: string): Promise<string | null>;

  /** All fields of the hash at `key`; an empty object if the key does not exist. */
  hGetAll(key: string): Promise<Record<string, string>>;

  /**
   * All fields of each hash of `keys`, in the order of `keys` (an empty object for a missing key):
   * hGetAll of many keys in one round trip. Each hash is read atomically; the reads of different
   * keys are not one atomic snapshot. No keys → [].
   */
  hGetAllMany(keys: readonly string[]): Promise<Record<string, string>[]>;

  /**
   * The values of `fields` in each hash of `keys`: one array per key, in the order of `keys`, each
   * with one value (or null: missing field or key) per field, in the order of `fields`. All keys
   * are read in one round trip and one atomic step. No keys → [].
   */
  hMGetMany(keys: readonly string[], fields: readonly string[]): Promise<(string | null)[][]>;

  /** Removes fields from the hash; resolves how many existed. */
  hDel(key: string, ...fields: string[]): Promise<number>;

  /** Adds members to the set at `key` (creating it without TTL if missing); resolves how many were new. */
  sAdd(key: string, ...members: string[]): Promise<number>;

  /** Removes members from the set; resolves how many were present. */
  sRem(key: string, ...members: string[]): Promise<number>;

  /** The members of the set at `key`, in no particular order; empty if the key does not exist. */
  sMembers(key: string): Promise<string[]>;

  /**
   * Atomically takes `cost` (default 1) tokens from the token bucket at `key` if it holds them
   * (see token-bucket.ts; a missing key is a full bucket). Time is the store's own clock (Redis:
   * the server's TIME, so every node agrees). The key holds a hash and expires once the bucket
   * would be full again. Rejects with RangeError for an unusable spec or a cost outside
   * 1..capacity. Among concurrent calls, exactly as many succeed as there were tokens.
   */
  takeTokens(key: string, spec: TokenBucketSpec, cost?: number): Promise<TokenBucketResult>;

  /**
   * Releases the store's resources (timers, connections it opened itself; an injected connection
   * is left open). The store must not be used afterwards. Idempotent.
   */
  close(): Promise<void>;
}

/** Validates a TTL per the port's rules and returns it as whole milliseconds. */
export function normalizeTtl(ttlMs: number): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`ttlMs must be a finite number > 0, got ${String(ttlMs)}`);
  }
  return Math.ceil(ttlMs);
}
