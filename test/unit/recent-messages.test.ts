import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RecentMessages } from '../../engine/messages/recent-messages.ts';
import type { MessageRecord } from '../../storage/records.ts';

/** Ids cross a digit boundary (9 → 10) so that string order would be wrong. */
const msg = (id: number): MessageRecord => ({
  id: String(id),
  type: 0,
  mentions: null,
  editedAt: null,
  replyToId: null,
  pinnedAt: null,
  channelId: '500',
  guildId: '400',
  authorId: '7',
  content: `message ${id}`,
  nonce: null,
  createdAt: 1_800_000_000_000 + id,
});
/** Newest first, as Postgres returns a history page. */
const page = (...ids: number[]) => ids.map(msg);
const ids = (p: MessageRecord[] | null) => (p === null ? null : p.map((m) => Number(m.id)));

describe('RecentMessages', () => {
  it('answers nothing before it is primed, even with pushes', () => {
    const cache = new RecentMessages(10);
    assert.equal(cache.page(null, 10), null);
    cache.push(msg(8));
    cache.push(msg(9));
    assert.equal(cache.page(null, 1), null);
    assert.equal(cache.page('9', 1), null);
  });

  it('serves pages of a completely primed channel newest first', () => {
    const cache = new RecentMessages(10);
    cache.prime(page(12, 11, 10, 9, 8), true);
    assert.deepEqual(ids(cache.page(null, 2)), [12, 11]);
    assert.deepEqual(ids(cache.page(null, 5)), [12, 11, 10, 9, 8]);
    assert.deepEqual(ids(cache.page(null, 50)), [12, 11, 10, 9, 8], 'the channel has no older messages');
    assert.deepEqual(ids(cache.page('11', 2)), [10, 9]);
    assert.deepEqual(ids(cache.page('10', 50)), [9, 8]);
    assert.deepEqual(ids(cache.page('100', 1)), [12], 'a cursor newer than everything');
    assert.deepEqual(ids(cache.page('8', 10)), [], 'nothing is older than the first message');
    assert.deepEqual(ids(cache.page('2', 10)), []);
    assert.deepEqual(cache.page(null, 1), [msg(12)], 'records are returned whole');
  });

  it('serves an empty channel from memory once primed complete', () => {
    const cache = new RecentMessages(10);
    cache.prime([], true);
    assert.deepEqual(cache.page(null, 50), []);
    assert.deepEqual(cache.page('123', 50), []);
  });

  it('refuses pages that need messages older than an incomplete prime', () => {
    const cache = new RecentMessages(10);
    cache.prime(page(12, 11, 10), false);
    assert.deepEqual(ids(cache.page(null, 3)), [12, 11, 10]);
    assert.equal(cache.page(null, 4), null);
    assert.deepEqual(ids(cache.page('12', 2)), [11, 10]);
    assert.equal(cache.page('12', 3), null);
    assert.equal(cache.page('10', 1), null, 'older than anything held');
    assert.equal(cache.page('5', 1), null);
    assert.deepEqual(ids(cache.page('99', 3)), [12, 11, 10]);
  });

  it('puts messages pushed after priming at the head', () => {
    const cache = new RecentMessages(10);
    cache.prime(page(9, 8), true);
    cache.push(msg(10));
    cache.push(msg(11));
    assert.deepEqual(ids(cache.page(null, 1)), [11]);
    assert.deepEqual(ids(cache.page(null, 10)), [11, 10, 9, 8]);
    assert.deepEqual(ids(cache.page('11', 2)), [10, 9]);
  });

  it('keeps only the newest `capacity` messages and then stops claiming completeness', () => {
    const cache = new RecentMessages(3);
    cache.prime(page(9, 8), true);
    for (const id of [10, 11, 12]) cache.push(msg(id));
    assert.deepEqual(ids(cache.page(null, 3)), [12, 11, 10]);
    // 8 and 9 were trimmed from memory but still exist: the cache must not serve a short page.
    assert.equal(cache.page(null, 4), null);
    assert.equal(cache.page('10', 1), null);
    assert.deepEqual(ids(cache.page('12', 2)), [11, 10]);
  });

  it('trims an over-long prime to capacity and treats it as incomplete', () => {
    const cache = new RecentMessages(3);
    cache.prime(page(14, 13, 12, 11, 10), true);
    assert.deepEqual(ids(cache.page(null, 3)), [14, 13, 12]);
    assert.equal(cache.page(null, 4), null);
  });

  it('a capacity of 0 never answers', () => {
    const cache = new RecentMessages(0);
    cache.prime(page(2, 1), true);
    cache.push(msg(3));
    assert.equal(cache.page(null, 1), null);
  });

  it('merges messages pushed before priming without duplicates', () => {
    const cache = new RecentMessages(10);
    // 10 and 11 committed while the Postgres read was in flight; the read already saw 10.
    cache.push(msg(10));
    cache.push(msg(11));
    cache.prime(page(10, 9, 8), true);
    assert.deepEqual(ids(cache.page(null, 10)), [11, 10, 9, 8]);
    assert.deepEqual(ids(cache.page('11', 10)), [10, 9, 8]);
    cache.push(msg(12));
    assert.deepEqual(ids(cache.page(null, 2)), [12, 11]);
  });

  it('a message primed by a read that overtook its own push is kept once', () => {
    const cache = new RecentMessages(10);
    // The history read saw 10 committed, and its answer arrived before the writer's for 10.
    cache.prime(page(10, 9), true);
    cache.push(msg(10));
    cache.push(msg(11));
    assert.deepEqual(ids(cache.page(null, 10)), [11, 10, 9]);
  });

  it('merging keeps an incomplete prime incomplete', () => {
    const cache = new RecentMessages(10);
    cache.push(msg(21));
    cache.prime(page(21, 20), false);
    assert.deepEqual(ids(cache.page(null, 2)), [21, 20]);
    assert.equal(cache.page(null, 3), null);
  });
});
