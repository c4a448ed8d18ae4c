/** ReadyLoader: concurrent IDENTIFYs share ReadyStore.loadMany statements. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadyLoader } from '../../engine/gateway/ready.ts';
import type { ReadyStore } from '../../storage/ports.ts';
import type { ReadyRecord } from '../../storage/records.ts';

function fakeStore(opts: { fail?: boolean } = {}): ReadyStore & { calls: string[][]; release(): void } {
  const calls: string[][] = [];
  let gate: (() => void)[] = [];
  return {
    calls,
    release() {
      const g = gate;
      gate = [];
      for (const f of g) f();
    },
    async loadMany(userIds) {
      calls.push([...userIds]);
      await new Promise<void>((r) => gate.push(r));
      if (opts.fail) throw new Error('db down');
      return new Map(userIds.filter((id) => id !== 'ghost').map((id) => [id, { email: `${id}@x` } as ReadyRecord]));
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('ReadyLoader', () => {
  it('reads requests of one tick together, then those made while reads run in the next statement', async () => {
    const store = fakeStore();
    const loader = new ReadyLoader(store, { membersPerGuild: 10, dmLimit: 5, maxInFlight: 1 });
    const first = [loader.load('a'), loader.load('b'), loader.load('a'), loader.load('ghost')];
    await tick();
    assert.deepEqual(store.calls, [['a', 'b', 'ghost']]);
    const later = [loader.load('c'), loader.load('d')];
    await tick();
    assert.equal(store.calls.length, 1, 'waits while maxInFlight reads run');
    store.release();
    const got = await Promise.all(first);
    assert.deepEqual(got.map((r) => r?.email ?? null), ['a@x', 'b@x', 'a@x', null]);
    await tick();
    assert.deepEqual(store.calls[1], ['c', 'd']);
    store.release();
    assert.deepEqual((await Promise.all(later)).map((r) => r?.email), ['c@x', 'd@x']);
  });

  it('a failed read rejects every request of its batch; later requests get a new read', async () => {
    const store = fakeStore({ fail: true });
    const loader = new ReadyLoader(store, { membersPerGuild: 10, dmLimit: 5, maxBatch: 2 });
    const ps = [loader.load('a'), loader.load('b'), loader.load('c')];
    await tick();
    assert.deepEqual(store.calls, [['a', 'b'], ['c']], 'maxBatch splits');
    store.release();
    for (const p of ps) await assert.rejects(p, /db down/);
  });
});
