/**
 * The in-process reference implementation of EphemeralStore, for tests and single-node
 * deployments. Every operation runs synchronously inside its promise, so each is atomic by
 * construction. Expiry is lazy (an expired key is dropped when touched) plus a periodic sweep on an
 * unref'd timer so that untouched keys do not accumulate. Time comes from the injected clock only.
 */
import { systemClock, type Clock } from '../../protocol/ids.ts';
import { normalizeTtl, type EphemeralSetOptions, type EphemeralStore } from './ephemeral-store.ts';
import { msUntilFull, takeTokens, validateBucket, type TokenBucketResult, type TokenBucketSpec } from './token-bucket.ts';

type Entry =
  | { kind: 'string'; value: string; expiresAt: number | null }
  | { kind: 'hash'; value: Map<string, string>; expiresAt: number | null }
  | { kind: 'set'; value: Set<string>; expiresAt: number | null };

export interface MemoryEphemeralStoreOptions {
  clock?: Clock;
  /** Prepended to every key internally (only observable through `keys()`). Default ''. */
  prefix?: string;
  /** How often expired keys are swept; 0 disables the timer (lazy expiry still applies). Default 1000. */
  sweepIntervalMs?: number;
}

const INTEGER_RE = /^-?(0|[1-9][0-9]*)$/;

function wrongType(key: string): Error {
  return new TypeError(`WRONGTYPE operation against key '${key}' holding the wrong kind of value`);
}

export class MemoryEphemeralStore implements EphemeralStore {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly prefix: string;
  private timer: NodeJS.Timeout | null = null;

  constructor(opts: MemoryEphemeralStoreOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.prefix = opts.prefix ?? '';
    const every = opts.sweepIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(() => this.sweepExpired(), every);
      this.timer.unref();
    }
  }

  /** Drops every expired key now; returns how many were dropped. */
  sweepExpired(): number {
    const now = this.clock.now();
    let dropped = 0;
    for (const [k, e] of this.entries) {
      if (e.expiresAt !== null && e.expiresAt <= now) {
        this.entries.delete(k);
        dropped++;
      }
    }
    return dropped;
  }

  /** Live keys (with prefix), for tests and diagnostics. */
  keys(): string[] {
    const now = this.clock.now();
    return [...this.entries].filter(([, e]) => e.expiresAt === null || e.expiresAt > now).map(([k]) => k);
  }

  async get(key: string): Promise<string | null> {
    return this.str(key)?.value ?? null;
  }

  async set(key: string, value: string, opts: EphemeralSetOptions = {}): Promise<boolean> {
    const ttl = opts.ttlMs === undefined ? null : normalizeTtl(opts.ttlMs);
    if (opts.onlyIfAbsent && this.live(key)) return false;
    this.entries.set(this.prefix + key, { kind: 'string', value, expiresAt: ttl === null ? null : this.clock.now() + ttl });
    return true;
  }

  async del(...keys: string[]): Promise<number> {
    let n = 0;
    for (const key of keys) {
      if (this.live(key)) {
        this.entries.delete(this.prefix + key);
        n++;
      }
    }
    return n;
  }

  async getDel(key: string): Promise<string | null> {
    const e = this.str(key);
    if (!e) return null;
    this.entries.delete(this.prefix + key);
    return e.value;
  }

  async compareAndSet(key: string, expected: string | null, next: string, ttlMs?: number): Promise<boolean> {
    const ttl = ttlMs === undefined ? undefined : normalizeTtl(ttlMs);
    const e = this.str(key);
    if ((e?.value ?? null) !== expected) return false;
    const expiresAt = ttl !== undefined ? this.clock.now() + ttl : (e?.expiresAt ?? null);
    this.entries.set(this.prefix + key, { kind: 'string', value: next, expiresAt });
    return true;
  }

  async incr(key: string, ttlMs?: number): Promise<number> {
    const ttl = ttlMs === undefined ? undefined : normalizeTtl(ttlMs);
    const e = this.str(key);
    if (!e) {
      this.entries.set(this.prefix + key, {
        kind: 'string', value: '1', expiresAt: ttl === undefined ? null : this.clock.now() + ttl,
      });
      return 1;
    }
    if (!INTEGER_RE.test(e.value)) throw new TypeError(`value at '${key}' is not an integer`);
    const n = Number(e.value) + 1;
    if (!Number.isSafeInteger(n)) throw new RangeError(`increment at '${key}' would overflow`);
    e.value = String(n);
    return n;
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    const ttl = normalizeTtl(ttlMs);
    const e = this.live(key);
    if (!e) return false;
    e.expiresAt = this.clock.now() + ttl;
    return true;
  }

  async ttlMs(key: string): Promise<number | null> {
    const e = this.live(key);
    if (!e || e.expiresAt === null) return null;
    return e.expiresAt - this.clock.now();
  }

  hSet(key: string, field: string, value: string): Promise<number>;
  hSet(key: string, fields: Readonly<Record<string, string>>): Promise<number>;
  async hSet(key: string, fieldOrFields: string | Readonly<Record<string, string>>, value?: string): Promise<number> {
    const pairs: [string, string][] = typeof fieldOrFields === 'string'
      ? [[fieldOrFields, String(value)]]
      : Object.entries(fieldOrFields);
    if (pairs.length === 0) return 0;
    let e = this.hash(key);
    if (!e) {
      e = { kind: 'hash', value: new Map(), expiresAt: null };
      this.entries.set(this.prefix + key, e);
    }
    let added = 0;
    for (const [f, v] of pairs) {
      if (!e.value.has(f)) added++;
      e.value.set(f, v);
    }
    return added;
  }

  async hGet(key: string, field: string): Promise<string | null> {
    return this.hash(key)?.value.get(field) ?? null;
  }

  async hGetAll(key: string): Promise<Record<string, string>> {
    const e = this.hash(key);
    return e ? Object.fromEntries(e.value) : {};
  }

  async hGetAllMany(keys: readonly string[]): Promise<Record<string, string>[]> {
    return keys.map((key) => {
      const e = this.hash(key);
      return e ? Object.fromEntries(e.value) : {};
    });
  }

  async hMGetMany(keys: readonly string[], fields: readonly string[]): Promise<(string | null)[][]> {
    const hashes = keys.map((key) => this.hash(key));
    return hashes.map((e) => fields.map((f) => e?.value.get(f) ?? null));
  }

  async hDel(key: string, ...fields: string[]): Promise<number> {
    const e = this.hash(key);
    if (!e) return 0;
    let n = 0;
    for (const f of fields) if (e.value.delete(f)) n++;
    if (e.value.size === 0) this.entries.delete(this.prefix + key);
    return n;
  }

  async sAdd(key: string, ...members: string[]): Promise<number> {
    if (members.length === 0) return 0;
    let e = this.setEntry(key);
    if (!e) {
      e = { kind: 'set', value: new Set(), expiresAt: null };
      this.entries.set(this.prefix + key, e);
    }
    let added = 0;
    for (const m of members) {
      if (!e.value.has(m)) {
        e.value.add(m);
        added++;
      }
    }
    return added;
  }

  async sRem(key: string, ...members: string[]): Promise<number> {
    const e = this.setEntry(key);
    if (!e) return 0;
    let n = 0;
    for (const m of members) if (e.value.delete(m)) n++;
    if (e.value.size === 0) this.entries.delete(this.prefix + key);
    return n;
  }

  async sMembers(key: string): Promise<string[]> {
    const e = this.setEntry(key);
    return e ? [...e.value] : [];
  }

  async takeTokens(key: string, spec: TokenBucketSpec, cost = 1): Promise<TokenBucketResult> {
    validateBucket(spec, cost);
    const now = this.clock.now();
    let e = this.hash(key);
    const t = Number(e?.value.get('t'));
    const at = Number(e?.value.get('ts'));
    const prev = e && Number.isFinite(t) && Number.isFinite(at) ? { tokens: t, at } : null;
    const { state, result } = takeTokens(prev, spec, cost, now);
    if (!e) {
      e = { kind: 'hash', value: new Map(), expiresAt: null };
      this.entries.set(this.prefix + key, e);
    }
    e.value.set('t', String(state.tokens));
    e.value.set('ts', String(state.at));
    e.expiresAt = now + msUntilFull(state, spec);
    return result;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The live entry at `key` (dropping it if expired), or undefined. */
  private live(key: string): Entry | undefined {
    const k = this.prefix + key;
    const e = this.entries.get(k);
    if (!e) return undefined;
    if (e.expiresAt !== null && e.expiresAt <= this.clock.now()) {
      this.entries.delete(k);
      return undefined;
    }
    return e;
  }

  private str(key: string): Extract<Entry, { kind: 'string' }> | undefined {
    const e = this.live(key);
    if (e && e.kind !== 'string') throw wrongType(key);
    return e;
  }

  private hash(key: string): Extract<Entry, { kind: 'hash' }> | undefined {
    const e = this.live(key);
    if (e && e.kind !== 'hash') throw wrongType(key);
    return e;
  }

  private setEntry(key: string): Extract<Entry, { kind: 'set' }> | undefined {
    const e = this.live(key);
    if (e && e.kind !== 'set') throw wrongType(key);
    return e;
  }
}
