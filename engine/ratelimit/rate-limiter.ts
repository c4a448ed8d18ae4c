/**
 * Named rate limits over the ephemeral store's atomic token buckets (Redis Lua in production, the
 * memory store in the embedded default). A rule is a bucket spec per key, e.g. "login per IP";
 * `null` turns the rule off. When the shared store fails (Redis unreachable), limits fall back to a
 * node-local memory bucket rather than failing open or refusing everyone: each node then enforces
 * the limit on its own until Redis is back.
 */
import type { Logger } from 'pino';
import type { EphemeralStore } from '../../storage/ephemeral/ephemeral-store.ts';
import { MemoryEphemeralStore } from '../../storage/ephemeral/memory-ephemeral-store.ts';
import type { TokenBucketResult, TokenBucketSpec } from '../../storage/ephemeral/token-bucket.ts';
import type { Clock } from '../../protocol/ids.ts';

export interface RateRule {
  /** Short stable name; part of the bucket's key. */
  name: string;
  spec: TokenBucketSpec;
}

/** An action exceeded its rate limit; `retryAfterMs` says when one more would be allowed. */
export class RateLimitedError extends Error {
  constructor(readonly rule: string, readonly retryAfterMs: number) {
    super(`rate limit ${rule} exceeded; retry after ${retryAfterMs} ms`);
    this.name = 'RateLimitedError';
  }
}

const ALLOWED: TokenBucketResult = Object.freeze({ allowed: true, remaining: Number.POSITIVE_INFINITY, retryAfterMs: 0 });

export interface RateLimiterOptions {
  store: EphemeralStore;
  logger: Logger;
  clock?: Clock;
}

export class RateLimiter {
  private readonly local: MemoryEphemeralStore;
  private lastWarning = 0;

  constructor(private readonly opts: RateLimiterOptions) {
    this.local = new MemoryEphemeralStore({ clock: opts.clock, prefix: 'rl-fallback:' });
  }

  /** Takes `cost` tokens from `rule`'s bucket for `id`. A null rule always allows. */
  async take(rule: RateRule | null, id: string, cost = 1): Promise<TokenBucketResult> {
    if (!rule) return ALLOWED;
    const key = `rl:${rule.name}:${id}`;
    try {
      return await this.opts.store.takeTokens(key, rule.spec, cost);
    } catch (err) {
      if (err instanceof RangeError) throw err;
      const now = Date.now();
      if (now - this.lastWarning > 10_000) {
        this.lastWarning = now;
        this.opts.logger.warn({ err, rule: rule.name }, 'rate-limit store failed; using node-local buckets');
      }
      return this.local.takeTokens(key, rule.spec, cost);
    }
  }

  /** Like take, but throws RateLimitedError when refused. */
  async enforce(rule: RateRule | null, id: string, cost = 1): Promise<void> {
    const r = await this.take(rule, id, cost);
    if (!r.allowed && rule) throw new RateLimitedError(rule.name, r.retryAfterMs);
  }

  async close(): Promise<void> {
    await this.local.close();
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const RATE_RE = /^\s*(\d+)\s*\/\s*(\d*)\s*(ms|s|m|h)\s*(?::\s*(\d+)\s*)?$/;

/**
 * Parses a rate: "N/PERIOD" allows N actions per PERIOD with bursts of up to N; "N/PERIOD:B"
 * keeps the rate and allows bursts of B. PERIOD is an optional count and a unit (ms, s, m, h):
 * "5/5s", "10/m", "30/15m:10". "off" (or "0/…") disables the limit (null). Throws RangeError.
 */
export function parseRate(text: string): TokenBucketSpec | null {
  if (text.trim().toLowerCase() === 'off') return null;
  const m = RATE_RE.exec(text);
  if (!m) throw new RangeError(`'${text}' is not a rate like 10/m, 5/5s or 30/15m:10 (or off)`);
  const n = Number(m[1]);
  const periodMs = (m[2] === '' ? 1 : Number(m[2])) * UNIT_MS[m[3]!]!;
  if (n === 0) return null;
  if (periodMs <= 0) throw new RangeError(`'${text}': the period must be > 0`);
  const capacity = m[4] === undefined ? n : Number(m[4]);
  if (capacity < 1) throw new RangeError(`'${text}': the burst must be >= 1`);
  return { capacity, refillPerSec: (n * 1000) / periodMs };
}

