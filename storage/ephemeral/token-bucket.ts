/**
 * Token-bucket arithmetic shared by every rate limiter: the memory store, the in-connection command
 * budget, and (transcribed to Lua) the Redis store. A bucket holds up to `capacity` tokens (the
 * burst) and gains `refillPerSec` tokens per second; an action costs tokens and is allowed only if
 * the bucket holds them. A bucket nobody touched is full.
 */

export interface TokenBucketSpec {
  /** Most tokens the bucket holds: the burst. An integer ≥ 1. */
  capacity: number;
  /** Tokens added per second (the sustained rate). Finite and > 0. */
  refillPerSec: number;
}

export interface TokenBucketResult {
  allowed: boolean;
  /** Whole tokens left after this call. */
  remaining: number;
  /** 0 when allowed; otherwise ms until `cost` tokens will be available. */
  retryAfterMs: number;
}

export interface BucketState {
  tokens: number;
  /** Epoch ms of the last update. */
  at: number;
}

/** Tolerance for floating-point refill arithmetic. */
const EPSILON = 1e-9;

/** Throws RangeError unless the spec and cost are usable. */
export function validateBucket(spec: TokenBucketSpec, cost: number): void {
  if (!Number.isInteger(spec.capacity) || spec.capacity < 1) throw new RangeError(`capacity must be an integer >= 1, got ${spec.capacity}`);
  if (typeof spec.refillPerSec !== 'number' || !Number.isFinite(spec.refillPerSec) || spec.refillPerSec <= 0) {
    throw new RangeError(`refillPerSec must be a finite number > 0, got ${spec.refillPerSec}`);
  }
  if (!Number.isInteger(cost) || cost < 1 || cost > spec.capacity) throw new RangeError(`cost must be an integer in 1..capacity, got ${cost}`);
}

/** Applies one take at time `now` to `state` (null = untouched, i.e. full); returns the new state and the verdict. */
export function takeTokens(state: BucketState | null, spec: TokenBucketSpec, cost: number, now: number): { state: BucketState; result: TokenBucketResult } {
  const perMs = spec.refillPerSec / 1000;
  let tokens = spec.capacity;
  if (state) tokens = Math.min(spec.capacity, state.tokens + Math.max(0, now - state.at) * perMs);
  if (tokens + EPSILON >= cost) {
    tokens = Math.max(0, tokens - cost);
    return { state: { tokens, at: now }, result: { allowed: true, remaining: Math.floor(tokens + EPSILON), retryAfterMs: 0 } };
  }
  return {
    state: { tokens, at: now },
    result: { allowed: false, remaining: Math.floor(tokens + EPSILON), retryAfterMs: Math.max(1, Math.ceil((cost - tokens) / perMs)) },
  };
}

/** How long until a bucket in `state` is full again (after which it may be forgotten). */
export function msUntilFull(state: BucketState, spec: TokenBucketSpec): number {
  return Math.max(1, Math.ceil((spec.capacity - state.tokens) / (spec.refillPerSec / 1000)));
}

/**
 * A bucket kept in process memory, for state that lives on one node anyway (a connection's
 * command budget): synchronous, so it never reorders what it guards.
 */
export class LocalTokenBucket {
  private state: BucketState | null = null;

  constructor(private readonly spec: TokenBucketSpec) {
    validateBucket(spec, 1);
  }

  take(now: number, cost = 1): TokenBucketResult {
    const { state, result } = takeTokens(this.state, this.spec, cost, now);
    this.state = state;
    return result;
  }
}
