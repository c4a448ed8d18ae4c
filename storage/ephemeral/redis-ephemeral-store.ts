/**
 * EphemeralStore on Redis (≥ 6.2: GETDEL, SET … KEEPTTL) through ioredis. Single commands are
 * atomic by themselves; read-modify-write operations (compareAndSet, incr-with-TTL) run as Lua
 * scripts, invoked by EVALSHA with a fallback to EVAL when the server's script cache lacks them.
 * All keys are namespaced with the `prefix` option; Lua scripts receive the prefixed keys in KEYS.
 *
 * Fail fast: once the connection has been up, an operation issued while it is down rejects at once
 * (RedisUnavailableError) instead of queueing until Redis returns, so callers fall back (session
 * checks to the database, rate limits to node-local buckets) instead of hanging. Before the first
 * connection, operations queue as usual (at most two reconnection attempts each), so a store can be
 * used right after construction.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { normalizeTtl, type EphemeralSetOptions, type EphemeralStore } from './ephemeral-store.ts';
import { validateBucket, type TokenBucketResult, type TokenBucketSpec } from './token-bucket.ts';

export interface RedisEphemeralStoreOptions {
  /** Prepended to every key, e.g. 'guildhall:'. Default ''. */
  prefix?: string;
  /** Called with connection errors of an owned connection (they also surface as rejected operations). */
  onConnectionError?: (err: Error) => void;
}

/** Redis is known to be unreachable right now; nothing was sent. */
export class RedisUnavailableError extends Error {
  constructor() {
    super('redis unavailable');
    this.name = 'RedisUnavailableError';
  }
}

interface LuaScript {
  src: string;
  sha: string;
}

function lua(src: string): LuaScript {
  return { src, sha: createHash('sha1').update(src).digest('hex') };
}

/** KEYS[1]; ARGV: expectAbsent ('1'|'0'), expected, next, ttlMs ('' = keep TTL). → 1 | 0 */
const COMPARE_AND_SET = lua(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= false then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
end
return 1
`);

/** KEYS[1]; ARGV: ttlMs ('' = none) applied only when INCR creates the key. → new value */
const INCR_WITH_TTL = lua(`
local created = redis.call('EXISTS', KEYS[1]) == 0
local v = redis.call('INCR', KEYS[1])
if created and ARGV[1] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return v
`);

/**
 * The token bucket of token-bucket.ts in Lua, timed by the Redis server's clock (TIME), so that
 * every engine node sees the same time. KEYS[1] is a hash {t: tokens, ts: ms}; ARGV: capacity,
 * refill per ms, cost. → {allowed 1|0, whole tokens left, retry-after ms}. Redis ≥ 5 replicates
 * script effects, so TIME inside a writing script is allowed.
 */
const TAKE_TOKENS = lua(`
local capacity = tonumber(ARGV[1])
local perMs = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local eps = 1e-9
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cur = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = capacity
local t, ts = tonumber(cur[1]), tonumber(cur[2])
if t and ts then
  tokens = math.min(capacity, t + math.max(0, now - ts) * perMs)
end
local allowed, retry = 0, 0
if tokens + eps >= cost then
  tokens = math.max(0, tokens - cost)
  allowed = 1
else
  retry = math.max(1, math.ceil((cost - tokens) / perMs))
end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((capacity - tokens) / perMs)))
return {allowed, math.floor(tokens + eps), retry}
`);

/** KEYS: hashes; ARGV: fields. → flat array, #ARGV values per key (nil for a missing field). */
const HMGET_MANY = lua(`
local out = {}
local n = #ARGV
for i, key in ipairs(KEYS) do
  local values = redis.call('HMGET', key, unpack(ARGV))
  for j = 1, n do out[(i - 1) * n + j] = values[j] end
end
return out
`);

export class RedisEphemeralStore implements EphemeralStore {
  private readonly redis: Redis;
  private readonly owned: boolean;
  private readonly prefix: string;
  private closed = false;
  private connectedOnce = false;

  /**
   * @param connection a Redis URL (the store opens and, on close(), quits its own connection) or
   *   an ioredis instance (shared; close() leaves it open).
   */
  constructor(connection: string | Redis, opts: RedisEphemeralStoreOptions = {}) {
    this.owned = typeof connection === 'string';
    this.redis = typeof connection === 'string' ? new Redis(connection, { maxRetriesPerRequest: 2 }) : connection;
    if (this.owned) this.redis.on('error', (err: Error) => opts.onConnectionError?.(err));
    this.connectedOnce = this.redis.status === 'ready';
    this.redis.on('ready', () => {
      this.connectedOnce = true;
    });
    this.prefix = opts.prefix ?? '';
  }

  async get(key: string): Promise<string | null> {
    return this.redis.get(this.k(key));
  }

  async set(key: string, value: string, opts: EphemeralSetOptions = {}): Promise<boolean> {
    const k = this.k(key);
    const ttl = opts.ttlMs === undefined ? undefined : normalizeTtl(opts.ttlMs);
    let reply: string | null;
    if (ttl !== undefined) {
      reply = opts.onlyIfAbsent ? await this.redis.set(k, value, 'PX', ttl, 'NX') : await this.redis.set(k, value, 'PX', ttl);
    } else {
      reply = opts.onlyIfAbsent ? await this.redis.set(k, value, 'NX') : await this.redis.set(k, value);
    }
    return reply === 'OK';
  }

  async del(...keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return this.redis.del(...keys.map((key) => this.k(key)));
  }

  async getDel(key: string): Promise<string | null> {
    return this.redis.getdel(this.k(key));
  }

  async compareAndSet(key: string, expected: string | null, next: string, ttlMs?: number): Promise<boolean> {
    const ttl = ttlMs === undefined ? '' : String(normalizeTtl(ttlMs));
    const reply = await this.run(COMPARE_AND_SET, [this.k(key)], [expected === null ? '1' : '0', expected ?? '', next, ttl]);
    return reply === 1;
  }

  async incr(key: string, ttlMs?: number): Promise<number> {
    const ttl = ttlMs === undefined ? '' : String(normalizeTtl(ttlMs));
    return Number(await this.run(INCR_WITH_TTL, [this.k(key)], [ttl]));
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.pexpire(this.k(key), normalizeTtl(ttlMs))) === 1;
  }

  async ttlMs(key: string): Promise<number | null> {
    const ms = await this.redis.pttl(this.k(key));
    return ms > 0 ? ms : null;
  }

  hSet(key: string, field: string, value: string): Promise<number>;
  hSet(key: string, fields: Readonly<Record<string, string>>): Promise<number>;
  async hSet(key: string, fieldOrFields: string | Readonly<Record<string, string>>, value?: string): Promise<number> {
    if (typeof fieldOrFields === 'string') return this.redis.hset(this.k(key), fieldOrFields, String(value));
    const flat = Object.entries(fieldOrFields).flat();
    if (flat.length === 0) return 0;
    return this.redis.hset(this.k(key), ...flat);
  }

  async hGet(key: string, field: string): Promise<string | null> {
    return this.redis.hget(this.k(key), field);
  }

  async hGetAll(key: string): Promise<Record<string, string>> {
    return { ...(await this.redis.hgetall(this.k(key))) };
  }

  /** One pipeline: a single write and a single round trip whatever the number of keys. */
  async hGetAllMany(keys: readonly string[]): Promise<Record<string, string>[]> {
    if (keys.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.hgetall(this.k(key));
    const replies = (await pipeline.exec()) ?? [];
    return keys.map((_, i) => {
      const [err, value] = replies[i] ?? [new Error('redis pipeline returned no reply')];
      if (err) throw err;
      return { ...(value as Record<string, string>) };
    });
  }

  /** One script call: one command and one flat reply whatever the number of keys. */
  async hMGetMany(keys: readonly string[], fields: readonly string[]): Promise<(string | null)[][]> {
    if (keys.length === 0) return [];
    if (fields.length === 0) return keys.map(() => []);
    const flat = (await this.run(HMGET_MANY, keys.map((key) => this.k(key)), [...fields])) as (string | null)[];
    const n = fields.length;
    return keys.map((_, i) => Array.from({ length: n }, (_, j) => flat[i * n + j] ?? null));
  }

  async hDel(key: string, ...fields: string[]): Promise<number> {
    if (fields.length === 0) return 0;
    return this.redis.hdel(this.k(key), ...fields);
  }

  async sAdd(key: string, ...members: string[]): Promise<number> {
    if (members.length === 0) return 0;
    return this.redis.sadd(this.k(key), ...members);
  }

  async sRem(key: string, ...members: string[]): Promise<number> {
    if (members.length === 0) return 0;
    return this.redis.srem(this.k(key), ...members);
  }

  async sMembers(key: string): Promise<string[]> {
    return this.redis.smembers(this.k(key));
  }

  async takeTokens(key: string, spec: TokenBucketSpec, cost = 1): Promise<TokenBucketResult> {
    validateBucket(spec, cost);
    const perMs = spec.refillPerSec / 1000;
    const reply = (await this.run(TAKE_TOKENS, [this.k(key)], [String(spec.capacity), perMs.toPrecision(17), String(cost)])) as number[];
    return { allowed: reply[0] === 1, remaining: Number(reply[1]), retryAfterMs: Number(reply[2]) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.owned) return;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  /** The namespaced key; every operation passes through here first, which is where it fails fast. */
  private k(key: string): string {
    if (this.connectedOnce && this.redis.status !== 'ready') throw new RedisUnavailableError();
    return this.prefix + key;
  }

  /** Runs a script by its SHA1, loading it with EVAL when Redis answers NOSCRIPT. */
  private async run(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return this.redis.eval(script.src, keys.length, ...keys, ...args);
    }
  }
}
