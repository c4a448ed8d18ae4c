/**
 * Snowflake IDs: 64 bits = 42 bits of milliseconds since GUILDHALL_EPOCH_MS, 10 bits of worker id,
 * 12 bits of per-millisecond sequence. They sort by creation time. On the wire and in JavaScript
 * they are decimal strings: a 64-bit integer does not survive a JavaScript number, and msgpack
 * libraries disagree on how they surface uint64, while a string round-trips everywhere.
 */

export const GUILDHALL_EPOCH_MS = 1_767_225_600_000; // 2026-01-01T00:00:00Z

export type Snowflake = string;

const SNOWFLAKE_RE = /^[1-9][0-9]{0,19}$/;
const MAX_U64 = (1n << 64n) - 1n;

/** True when `value` is the canonical decimal form of a positive 64-bit integer. */
export function isSnowflake(value: unknown): value is Snowflake {
  return typeof value === 'string' && SNOWFLAKE_RE.test(value) && BigInt(value) <= MAX_U64;
}

/** The creation time in epoch milliseconds encoded in `id`. */
export function snowflakeTime(id: Snowflake): number {
  return Number(BigInt(id) >> 22n) + GUILDHALL_EPOCH_MS;
}

/** The smallest id created at `ms`; useful as a history cursor. */
export function snowflakeAt(ms: number): Snowflake {
  return ((BigInt(Math.max(0, ms - GUILDHALL_EPOCH_MS)) << 22n) | 0n).toString();
}

export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

/**
 * Generates strictly increasing snowflakes for one worker. When the sequence of a millisecond is
 * exhausted, or the clock steps backwards, it borrows from the next millisecond instead of waiting.
 */
export class SnowflakeGenerator {
  private lastMs = 0;
  private seq = 0;
  private readonly worker: bigint;

  constructor(workerId = 0, private readonly clock: Clock = systemClock) {
    if (!Number.isInteger(workerId) || workerId < 0 || workerId > 1023) throw new RangeError('workerId must be 0..1023');
    this.worker = BigInt(workerId);
  }

  next(): Snowflake {
    let ms = this.clock.now() - GUILDHALL_EPOCH_MS;
    if (ms <= this.lastMs) {
      ms = this.lastMs;
      this.seq++;
      if (this.seq > 0xfff) {
        ms = ++this.lastMs;
        this.seq = 0;
      }
    } else {
      this.lastMs = ms;
      this.seq = 0;
    }
    return ((BigInt(ms) << 22n) | (this.worker << 12n) | BigInt(this.seq)).toString();
  }
}

/** Compares two snowflakes numerically (they are not comparable as strings of different lengths). */
export function compareSnowflakes(a: Snowflake, b: Snowflake): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
