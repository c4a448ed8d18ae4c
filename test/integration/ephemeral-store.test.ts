/**
 * One conformance suite for every EphemeralStore: the memory store (fake clock, time advanced
 * instantly) and Redis at redis://127.0.0.1:6379 (real short TTLs; a random prefix per run, every
 * key of the run deleted afterwards). Redis is required: without it the Redis half fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { EphemeralStore } from '../../storage/ephemeral/ephemeral-store.ts';
import { MemoryEphemeralStore } from '../../storage/ephemeral/memory-ephemeral-store.ts';
import { RedisEphemeralStore } from '../../storage/ephemeral/redis-ephemeral-store.ts';
import { openEphemeralStore } from '../../storage/ephemeral/open-ephemeral-store.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TTL = 80, PAST_TTL = 160; // ms

interface Harness {
  store: EphemeralStore;
  advance(ms: number): Promise<void>; // lets `ms` of store time pass
  close(): Promise<void>; // closes the store and removes what the run wrote
}

let keySeq = 0;
const key = (name: string) => `${name}:${++keySeq}`;

function conformance(name: string, open: () => Promise<Harness>, skip: string | false = false) {
  describe(`EphemeralStore conformance: ${name}`, { skip }, () => {
    let h: Harness;
    before(async () => { h = await open(); });
    after(() => h?.close());

    it('get/set/del/getDel basics', async () => {
      const k = key('basic');
      assert.equal(await h.store.get(k), null);
      assert.equal(await h.store.set(k, 'a'), true);
      assert.equal(await h.store.get(k), 'a');
      assert.equal(await h.store.set(k, 'b'), true);
      assert.equal(await h.store.get(k), 'b');
      assert.equal(await h.store.del(k, key('missing')), 1);
      assert.equal(await h.store.del(k), 0);
      assert.equal(await h.store.del(), 0);
      assert.equal(await h.store.get(k), null);
      await h.store.set(k, 'once');
      assert.equal(await h.store.getDel(k), 'once');
      assert.equal(await h.store.getDel(k), null);
      assert.equal(await h.store.get(k), null);
    });

    it('set onlyIfAbsent writes only a missing key', async () => {
      const k = key('nx');
      assert.equal(await h.store.set(k, 'first', { onlyIfAbsent: true }), true);
      assert.equal(await h.store.set(k, 'second', { onlyIfAbsent: true, ttlMs: TTL }), false);
      assert.equal(await h.store.get(k), 'first');
      assert.equal(await h.store.ttlMs(k), null);
    });

    it('set with ttlMs expires; plain set clears a TTL', async () => {
      const k = key('ttl');
      await h.store.set(k, 'v', { ttlMs: TTL });
      const left = await h.store.ttlMs(k);
      assert.ok(left !== null && left > 0 && left <= TTL, `ttl ${left}`);
      await h.advance(PAST_TTL);
      assert.equal(await h.store.get(k), null);
      assert.equal(await h.store.ttlMs(k), null);
      assert.equal(await h.store.set(k, 'again', { onlyIfAbsent: true }), true, 'expired key counts as absent');

      const p = key('persist');
      await h.store.set(p, 'v', { ttlMs: TTL });
      await h.store.set(p, 'w');
      assert.equal(await h.store.ttlMs(p), null);
      await h.advance(PAST_TTL);
      assert.equal(await h.store.get(p), 'w');
    });

    it('rejects invalid TTLs with RangeError', async () => {
      const k = key('badttl');
      for (const ttlMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await assert.rejects(h.store.set(k, 'v', { ttlMs }), RangeError);
        await assert.rejects(h.store.expire(k, ttlMs), RangeError);
        await assert.rejects(h.store.incr(k, ttlMs), RangeError);
        await assert.rejects(h.store.compareAndSet(k, null, 'v', ttlMs), RangeError);
      }
      assert.equal(await h.store.get(k), null);
    });

    it('compareAndSet: null means absent; TTL given or kept', async () => {
      const k = key('cas');
      assert.equal(await h.store.compareAndSet(k, 'x', 'y'), false);
      assert.equal(await h.store.get(k), null, 'a failed CAS creates nothing');
      assert.equal(await h.store.compareAndSet(k, null, 'v1', TTL * 10), true);
      assert.equal(await h.store.compareAndSet(k, null, 'v2'), false);
      assert.equal(await h.store.compareAndSet(k, 'nope', 'v2'), false);
      assert.equal(await h.store.compareAndSet(k, 'v1', 'v2'), true);
      assert.equal(await h.store.get(k), 'v2');
      const kept = await h.store.ttlMs(k);
      assert.ok(kept !== null && kept > TTL && kept <= TTL * 10, `kept ttl ${kept}`);
      assert.equal(await h.store.compareAndSet(k, 'v2', 'v3', TTL), true);
      await h.advance(PAST_TTL);
      assert.equal(await h.store.get(k), null);
      assert.equal(await h.store.compareAndSet(k, null, 'fresh'), true);
      assert.equal(await h.store.ttlMs(k), null);
    });

    it('incr counts from 0 and applies the TTL only on creation', async () => {
      const k = key('incr');
      assert.equal(await h.store.incr(k, TTL), 1);
      await h.advance(TTL / 2);
      assert.equal(await h.store.incr(k, TTL * 100), 2);
      const left = await h.store.ttlMs(k);
      assert.ok(left !== null && left <= TTL, `window not extended: ${left}`);
      await h.advance(PAST_TTL);
      assert.equal(await h.store.incr(k), 1);
      assert.equal(await h.store.ttlMs(k), null);
      assert.equal(await h.store.get(k), '1');
      const s = key('incr-str');
      await h.store.set(s, 'abc');
      await assert.rejects(h.store.incr(s));
    });

    it('expire and ttlMs', async () => {
      const k = key('expire');
      assert.equal(await h.store.expire(k, TTL), false);
      assert.equal(await h.store.ttlMs(k), null);
      await h.store.set(k, 'v');
      assert.equal(await h.store.ttlMs(k), null);
      assert.equal(await h.store.expire(k, TTL), true);
      const left = await h.store.ttlMs(k);
      assert.ok(left !== null && left > 0 && left <= TTL);
      await h.advance(PAST_TTL);
      assert.equal(await h.store.get(k), null);
      assert.equal(await h.store.expire(k, TTL), false);
    });

    it('hashes', async () => {
      const k = key('hash');
      assert.deepEqual(await h.store.hGetAll(k), {});
      assert.equal(await h.store.hGet(k, 'a'), null);
      assert.equal(await h.store.hSet(k, 'a', '1'), 1);
      assert.equal(await h.store.hSet(k, 'a', '2'), 0);
      assert.equal(await h.store.hSet(k, { b: '3', c: '4', a: '5' }), 2);
      assert.equal(await h.store.hSet(k, {}), 0);
      assert.equal(await h.store.hGet(k, 'a'), '5');
      assert.deepEqual(await h.store.hGetAll(k), { a: '5', b: '3', c: '4' });
      assert.equal(await h.store.hDel(k, 'a', 'zz'), 1);
      assert.equal(await h.store.hDel(k), 0);
      assert.equal(await h.store.expire(k, TTL), true);
      await h.store.hSet(k, 'd', '6');
      assert.ok((await h.store.ttlMs(k)) !== null, 'hSet keeps the TTL');
      assert.equal(await h.store.hDel(k, 'b', 'c', 'd'), 3);
      assert.equal(await h.store.expire(k, TTL), false, 'empty hash no longer exists');
      const e = key('hash-exp');
      await h.store.hSet(e, { x: '1' });
      await h.store.expire(e, TTL);
      await h.advance(PAST_TTL);
      assert.deepEqual(await h.store.hGetAll(e), {});
      assert.deepEqual(await h.store.hGetAllMany([]), []);
      const [m1, m2, str] = [key('hash-many-1'), key('hash-many-2'), key('hash-many-str')];
      await h.store.hSet(m1, { x: '1', y: '2' });
      await h.store.hSet(m2, 'z', '3');
      assert.deepEqual(await h.store.hGetAllMany([m2, key('hash-many-missing'), m1, m2]), [{ z: '3' }, {}, { x: '1', y: '2' }, { z: '3' }]);
      await h.store.set(str, 's');
      await assert.rejects(h.store.hGetAllMany([m1, str]), 'a key of another kind rejects');
      assert.deepEqual(await h.store.hMGetMany([], ['x']), []);
      assert.deepEqual(await h.store.hMGetMany([m1, m2], []), [[], []]);
      assert.deepEqual(
        await h.store.hMGetMany([m1, key('hash-many-missing'), m2], ['y', 'z', 'x']),
        [['2', null, '1'], [null, null, null], [null, '3', null]],
      );
      await assert.rejects(h.store.hMGetMany([m1, str], ['x']), 'a key of another kind rejects');
    });

    it('sets', async () => {
      const k = key('set');
      assert.deepEqual(await h.store.sMembers(k), []);
      assert.equal(await h.store.sAdd(k, 'a', 'b', 'a'), 2);
      assert.equal(await h.store.sAdd(k, 'b', 'c'), 1);
      assert.equal(await h.store.sAdd(k), 0);
      assert.deepEqual((await h.store.sMembers(k)).sort(), ['a', 'b', 'c']);
      assert.equal(await h.store.sRem(k, 'a', 'zz'), 1);
      assert.equal(await h.store.sRem(k), 0);
      assert.equal(await h.store.sRem(k, 'b', 'c'), 2);
      assert.equal(await h.store.expire(k, TTL), false, 'empty set no longer exists');
      const e = key('set-exp');
      await h.store.sAdd(e, 'm');
      await h.store.expire(e, TTL);
      await h.advance(PAST_TTL);
      assert.deepEqual(await h.store.sMembers(e), []);
    });

    it('rejects operations on a key of another kind', async () => {
      const s = key('kind-str');
      const hk = key('kind-hash');
      await h.store.set(s, 'v');
      await h.store.hSet(hk, 'f', 'v');
      await assert.rejects(h.store.hGet(s, 'f'));
      await assert.rejects(h.store.sAdd(s, 'm'));
      await assert.rejects(h.store.get(hk));
      await assert.rejects(h.store.sMembers(hk));
      assert.equal(await h.store.set(hk, 'replaced'), true, 'set replaces any kind');
      assert.equal(await h.store.get(hk), 'replaced');
    });

    it('compareAndSet is atomic: 50 concurrent racers, one winner', async () => {
      const k = key('cas-race');
      await h.store.set(k, 'v0');
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => h.store.compareAndSet(k, 'v0', `w${i}`)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await h.store.get(k), `w${results.indexOf(true)}`);

      const fresh = key('cas-race-null');
      const created = await Promise.all(Array.from({ length: 50 }, (_, i) => h.store.compareAndSet(fresh, null, `c${i}`)));
      assert.equal(created.filter(Boolean).length, 1);
    });

    it('onlyIfAbsent, getDel and incr are atomic under concurrency', async () => {
      const k = key('nx-race');
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => h.store.set(k, `v${i}`, { onlyIfAbsent: true, ttlMs: 10_000 })));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await h.store.get(k), `v${results.indexOf(true)}`);

      const taken = await Promise.all(Array.from({ length: 50 }, () => h.store.getDel(k)));
      assert.equal(taken.filter((v) => v !== null).length, 1);

      const c = key('incr-race');
      const counts = await Promise.all(Array.from({ length: 50 }, () => h.store.incr(c, 10_000)));
      assert.deepEqual([...counts].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
    });

    // ---- token buckets (rate limits) ----
    const SLOW = 1 / 3600; // one token per hour: no refill during a test

    it('takeTokens: a fresh bucket is full; it allows `capacity` takes, then refuses with a retry-after', async () => {
      const k = key('bucket');
      const spec = { capacity: 3, refillPerSec: SLOW };
      const seen = [];
      for (let i = 0; i < 3; i++) seen.push(await h.store.takeTokens(k, spec));
      assert.deepEqual(seen.map((r) => [r.allowed, r.remaining, r.retryAfterMs]), [[true, 2, 0], [true, 1, 0], [true, 0, 0]]);
      const refused = await h.store.takeTokens(k, spec);
      assert.equal(refused.allowed, false);
      assert.equal(refused.remaining, 0);
      assert.ok(refused.retryAfterMs > 3_500_000 && refused.retryAfterMs <= 3_600_001, `retryAfterMs ${refused.retryAfterMs}`);
      const left = await h.store.ttlMs(k);
      assert.ok(left !== null && left > 3 * 3_500_000, 'the key lives until the bucket is full again');
    });

    it('takeTokens: tokens come back at the refill rate, and a full bucket is forgotten', async () => {
      const k = key('refill');
      const spec = { capacity: 2, refillPerSec: 20 }; // one token per 50 ms
      assert.equal((await h.store.takeTokens(k, spec)).allowed, true);
      assert.equal((await h.store.takeTokens(k, spec)).allowed, true);
      const refused = await h.store.takeTokens(k, spec);
      assert.equal(refused.allowed, false);
      assert.ok(refused.retryAfterMs >= 1 && refused.retryAfterMs <= 50, `retryAfterMs ${refused.retryAfterMs}`);
      await h.advance(60);
      assert.equal((await h.store.takeTokens(k, spec)).allowed, true, 'one token refilled');
      await h.advance(PAST_TTL);
      assert.equal(await h.store.ttlMs(k), null, 'a full bucket expires');
      assert.deepEqual(await h.store.hGetAll(k), {});
      const again = await h.store.takeTokens(k, spec);
      assert.deepEqual([again.allowed, again.remaining], [true, 1]);
    });

    it('takeTokens: cost, validation and WRONGTYPE', async () => {
      const k = key('cost');
      const spec = { capacity: 5, refillPerSec: SLOW };
      assert.deepEqual(await h.store.takeTokens(k, spec, 3), { allowed: true, remaining: 2, retryAfterMs: 0 });
      const refused = await h.store.takeTokens(k, spec, 3);
      assert.equal(refused.allowed, false);
      assert.equal(refused.remaining, 2);
      assert.deepEqual(await h.store.takeTokens(k, spec, 2), { allowed: true, remaining: 0, retryAfterMs: 0 });
      for (const [bad, cost] of [[{ capacity: 0, refillPerSec: 1 }, 1], [{ capacity: 1.5, refillPerSec: 1 }, 1], [{ capacity: 2, refillPerSec: 0 }, 1],
        [{ capacity: 2, refillPerSec: Number.NaN }, 1], [{ capacity: 2, refillPerSec: 1 }, 3], [{ capacity: 2, refillPerSec: 1 }, 0]] as const) {
        await assert.rejects(h.store.takeTokens(key('bad'), bad, cost), RangeError);
      }
      const s = key('str');
      await h.store.set(s, 'x');
      await assert.rejects(h.store.takeTokens(s, spec));
    });

    it('takeTokens is exact under concurrency: 50 parallel takes at limit-1 let exactly one through', async () => {
      const k = key('bucket-race');
      const spec = { capacity: 10, refillPerSec: SLOW };
      for (let i = 0; i < 9; i++) assert.equal((await h.store.takeTokens(k, spec)).allowed, true);
      const results = await Promise.all(Array.from({ length: 50 }, () => h.store.takeTokens(k, spec)));
      assert.equal(results.filter((r) => r.allowed).length, 1);
      assert.ok(results.filter((r) => !r.allowed).every((r) => r.retryAfterMs > 0));

      const full = key('bucket-race-full');
      const burst = await Promise.all(Array.from({ length: 50 }, () => h.store.takeTokens(full, { capacity: 30, refillPerSec: SLOW })));
      assert.equal(burst.filter((r) => r.allowed).length, 30);
    });
  });
}

// ---- memory -------------------------------------------------------------------------------------

const fakeNow = { t: 1_800_000_000_000 };
conformance('memory', async () => {
  const store = new MemoryEphemeralStore({ clock: { now: () => fakeNow.t }, prefix: 'm:' });
  return { store, advance: async (ms) => { fakeNow.t += ms; }, close: () => store.close() };
});

describe('MemoryEphemeralStore specifics', () => {
  it('sweepExpired drops expired keys nobody touches; prefix is internal', async () => {
    const now = { t: 0 };
    const store = new MemoryEphemeralStore({ clock: { now: () => now.t }, prefix: 'p:', sweepIntervalMs: 0 });
    await store.set('a', '1', { ttlMs: 10 });
    await store.sAdd('b', 'x');
    await store.expire('b', 20);
    await store.set('c', 'keep');
    assert.deepEqual(store.keys().sort(), ['p:a', 'p:b', 'p:c']);
    now.t = 15;
    assert.equal(store.sweepExpired(), 1);
    now.t = 25;
    assert.equal(store.sweepExpired(), 1);
    assert.deepEqual(store.keys(), ['p:c']);
    await store.close();
    assert.ok(openEphemeralStore({}) instanceof MemoryEphemeralStore, 'no redisUrl → memory store');
  });
});

// ---- redis --------------------------------------------------------------------------------------

// Redis is a required service for `npm test` (.ci/run starts it): the Redis suites always run and
// fail loudly without it. (No top-level await here: suites registered after one are cut off when
// the runner force-exits at the end of the file's first batch of tests.)
const prefix = `guildhall-test:${randomBytes(6).toString('hex')}:`;

/** Deletes every key of this run (SCAN on the run's unique prefix). */
async function deleteRunKeys(client: Redis): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}

conformance('redis', async () => {
  const raw = new Redis(REDIS_URL);
  const store = new RedisEphemeralStore(REDIS_URL, { prefix });
  const close = async () => { await store.close(); await deleteRunKeys(raw); await raw.quit(); };
  return { store, advance: (ms) => sleep(ms), close };
}, false);

describe('RedisEphemeralStore specifics', () => {
  it('namespaces keys with the prefix and leaves an injected connection open on close', async () => {
    const client = new Redis(REDIS_URL);
    try {
      const store = new RedisEphemeralStore(client, { prefix });
      await store.set('visible', 'yes');
      assert.equal(await client.get(`${prefix}visible`), 'yes');
      assert.equal(await client.get('visible'), null);
      await store.close();
      assert.equal(await client.ping(), 'PONG');
      const viaOpen = openEphemeralStore({ redisUrl: REDIS_URL, prefix });
      assert.ok(viaOpen instanceof RedisEphemeralStore);
      assert.equal(await viaOpen.get('visible'), 'yes');
      await viaOpen.close();
    } finally {
      await deleteRunKeys(client);
      await client.quit();
    }
  });
});
