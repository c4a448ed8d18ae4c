/**
 * The per-tick coalescer: one frame per topic per tick for a single hot topic, and per-stream seq
 * order preserved for a socket that holds several topics of the same stream.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { decode, encodeEvent, eventStreamKey, readDispatch } from '../../protocol/codec.ts';
import { TopicCoalescer } from '../../engine/gateway/fanout.ts';

function run(events: Array<[topic: string, stream: string, seq: number]>) {
  const published: Array<{ topic: string; seqs: Array<[string, number]> }> = [];
  const c = new TopicCoalescer((topic, frame) => {
    published.push({ topic, seqs: readDispatch(decode(frame) as unknown[]).map((e) => [e.stream, e.seq]) });
  });
  for (const [topic, stream, seq] of events) c.add(topic, encodeEvent('MESSAGE_CREATE', stream, 1, seq, { n: seq }));
  c.flush();
  return published;
}

/** What a socket subscribed to `topics` receives, in order. */
const received = (published: ReturnType<typeof run>, topics: string[]) => published.filter((p) => topics.includes(p.topic)).flatMap((p) => p.seqs);

describe('TopicCoalescer', () => {
  it('reads the stream of an encoded event', () => {
    assert.equal(eventStreamKey(encodeEvent('MESSAGE_CREATE', 'g:123456789012345678', 5, 9, { a: 1 })), 'g:123456789012345678');
    assert.equal(eventStreamKey(encodeEvent('X'.repeat(40), 'd:1', 5, 9, null)), 'd:1');
    assert.equal(eventStreamKey(Uint8Array.of(0x91, 0x01)), '');
  });

  it('batches a hot topic into one frame per tick', () => {
    const published = run(Array.from({ length: 100 }, (_, i) => ['c:1', 'g:1', i + 1] as [string, string, number]));
    assert.equal(published.length, 1);
    assert.equal(published[0]!.seqs.length, 100);
  });

  it('splits frames so a socket holding several topics of a stream sees its events in seq order', () => {
    const published = run([
      ['c:a', 'g:1', 10], ['c:b', 'g:1', 11], ['c:a', 'g:1', 12], ['g:1', 'g:1', 13], ['c:a', 'g:1', 14], ['c:a', 'g:1', 15],
      ['c:z', 'g:2', 1], ['c:a', 'g:1', 16], ['c:z', 'g:2', 2], // another stream interleaved: no split needed for it
    ]);
    assert.deepEqual(received(published, ['c:a', 'c:b', 'g:1']).map(([, s]) => s), [10, 11, 12, 13, 14, 15, 16]);
    assert.deepEqual(received(published, ['c:a']).map(([, s]) => s), [10, 12, 14, 15, 16]);
    assert.deepEqual(received(published, ['c:z']).map(([, s]) => s), [1, 2]);
    assert.equal(published.filter((p) => p.topic === 'c:z').length, 1, 'g:2 events stay in one frame');
  });

  it('keeps each stream ordered on a topic that several streams feed', () => {
    const published = run([['u:1', 'u:1', 1], ['c:a', 'g:1', 5], ['u:1', 'g:1', 6], ['u:1', 'u:1', 2], ['c:a', 'g:1', 7]]);
    const all = received(published, ['u:1', 'c:a']);
    assert.deepEqual(all.filter(([st]) => st === 'g:1').map(([, s]) => s), [5, 6, 7]);
    assert.deepEqual(all.filter(([st]) => st === 'u:1').map(([, s]) => s), [1, 2]);
  });

  it('flushes by itself once per tick', async () => {
    const frames: string[] = [];
    const c = new TopicCoalescer((topic) => frames.push(topic));
    c.add('c:1', encodeEvent('T', 'g:1', 1, 1, null));
    assert.deepEqual(frames, []);
    await tick();
    assert.deepEqual(frames, ['c:1']);
  });

  it('holds a reply until the events added before it are published, and sends it at once when none is', () => {
    const out: string[] = [];
    const c = new TopicCoalescer((topic) => out.push(`event ${topic}`));
    c.afterPending({ sendReplies: () => out.push('reply 1') });
    c.add('c:1', encodeEvent('T', 'g:1', 1, 1, null));
    c.afterPending({ sendReplies: () => out.push('reply 2') });
    c.add('c:2', encodeEvent('T', 'g:1', 1, 2, null));
    assert.deepEqual(out, ['reply 1']);
    c.flush();
    assert.deepEqual(out, ['reply 1', 'event c:1', 'event c:2', 'reply 2']);
    c.afterPending({ sendReplies: () => out.push('reply 3') });
    assert.equal(out.at(-1), 'reply 3');
  });

  it('starts a new frame once a frame holds maxFrameBytes', () => {
    const sizes: number[] = [];
    const c = new TopicCoalescer((_topic, frame) => sizes.push(readDispatch(decode(frame) as unknown[]).length), 256, 1000);
    for (let i = 1; i <= 10; i++) c.add('c:1', encodeEvent('T', 'g:1', 1, i, 'x'.repeat(300)));
    c.flush();
    assert.deepEqual(sizes, [3, 3, 3, 1]);
  });
});
