/** ReadBatcher: concurrent callers share reads, each key once per read. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadBatcher } from '../../engine/people/read-batcher.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('ReadBatcher', () => {
  it('one read for the keys of one tick; keys asked while reads run go in the next read', async () => {
    const calls: string[][] = [];
    let release: (() => void)[] = [];
    const b = new ReadBatcher<string>(async (keys) => {
      calls.push(keys);
      await new Promise<void>((r) => release.push(r));
      return new Map(keys.map((k) => [k, k.toUpperCase()]));
    }, { maxInFlight: 1, maxBatch: 100 });
    const p1 = b.get(['a', 'b']);
    const p2 = b.get(['b', 'c', 'c']);
    assert.deepEqual(await b.get([]), new Map());
    await tick();
    assert.deepEqual(calls, [['a', 'b', 'c']]);
    const p3 = b.get(['a']);
    await tick();
    assert.equal(calls.length, 1);
    release.shift()!();
    assert.deepEqual(await p1, new Map([['a', 'A'], ['b', 'B']]));
    assert.deepEqual(await p2, new Map([['b', 'B'], ['c', 'C']]));
    await tick();
    assert.deepEqual(calls[1], ['a'], 'a later call is read again, not served from the earlier read');
    release.shift()!();
    assert.deepEqual(await p3, new Map([['a', 'A']]));
  });

  it('a failed read rejects its callers once; a call split over batches fails if any part fails', async () => {
    let n = 0;
    const b = new ReadBatcher<number>(async (keys) => {
      if (n++ === 1) throw new Error('down');
      return new Map(keys.map((k) => [k, 1]));
    }, { maxInFlight: 2, maxBatch: 2 });
    const p = b.get(['a', 'b', 'c']);
    await assert.rejects(p, /down/);
    assert.deepEqual(await b.get(['x']), new Map([['x', 1]]));
  });
});
