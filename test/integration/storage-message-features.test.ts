/**
 * Conformance of the message-feature storage (nonce de-duplication, edits, pins, reactions,
 * history cursors, read states, mutes), run against real Postgres and embedded PGlite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SnowflakeGenerator } from '../../protocol/ids.ts';
import type { Stores } from '../../storage/ports.ts';
import type { MessageRecord } from '../../storage/records.ts';
import { DIALECTS, type TestDatabase } from '../support/databases.ts';

const ids = new SnowflakeGenerator(7);
const T0 = Date.UTC(2026, 5, 1);

function message(channelId: string, over: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id: ids.next(), type: 0, mentions: null, channelId, guildId: null, authorId: '11', content: 'hi', nonce: null,
    createdAt: T0, editedAt: null, replyToId: null, pinnedAt: null, ...over,
  };
}

for (const dialect of DIALECTS) {
  describe(`message feature storage on ${dialect.name}`, () => {
    let t: TestDatabase;
    let stores: Stores;
    before(async () => {
      t = await dialect.open();
      stores = t.stores;
    });
    after(() => t?.dispose());

    it('skips a repeated (channel, author, nonce) and reports it, within and across batches', async () => {
      const channel = ids.next();
      const a = message(channel, { nonce: 'n1' });
      const dup = message(channel, { nonce: 'n1' });
      const otherAuthor = message(channel, { nonce: 'n1', authorId: '12' });
      const noNonce = [message(channel), message(channel)];
      assert.deepEqual(await stores.messages.insertMany([a, dup, otherAuthor, ...noNonce]), [true, false, true, true, true]);
      assert.deepEqual(await stores.messages.insertMany([message(channel, { nonce: 'n1' })]), [false]);
      assert.equal((await stores.messages.findByNonce(channel, '11', 'n1'))?.id, a.id);
      assert.equal(await stores.messages.findByNonce(channel, '11', 'nope'), null);
    });

    it('updates content, edit time, mentions and pins; lists pins newest first', async () => {
      const channel = ids.next();
      const [m1, m2] = [message(channel), message(channel)];
      await stores.messages.insertMany([m1, m2]);
      const mentions = { users: ['5'], roles: [], everyone: false };
      assert.equal(await stores.messages.update(channel, m1.id, { content: 'edited', editedAt: T0 + 5, mentions }), true);
      assert.equal(await stores.messages.update(channel, ids.next(), { content: 'x' }), false);
      assert.deepEqual(await stores.messages.findById(channel, m1.id), { ...m1, content: 'edited', editedAt: T0 + 5, mentions });
      await stores.messages.update(channel, m1.id, { pinnedAt: T0 + 10 });
      await stores.messages.update(channel, m2.id, { pinnedAt: T0 + 20 });
      assert.deepEqual((await stores.messages.pinned(channel)).map((m) => m.id), [m2.id, m1.id]);
      await stores.messages.update(channel, m2.id, { pinnedAt: null });
      assert.deepEqual((await stores.messages.pinned(channel)).map((m) => m.id), [m1.id]);
    });

    it('pages after and around a message; reports the newest id per channel; finds many', async () => {
      const channel = ids.next();
      const other = ids.next();
      const rows = Array.from({ length: 10 }, (_, i) => message(channel, { content: `m${i}` }));
      await stores.messages.insertMany([...rows, message(other)]);
      const after = await stores.messages.history(channel, { before: null, after: rows[3]!.id, limit: 3 });
      assert.deepEqual(after.map((m) => m.content), ['m6', 'm5', 'm4']);
      const around = await stores.messages.history(channel, { before: null, around: rows[5]!.id, limit: 4 });
      // limit 4 around m5: two older (m4, m3), then m5 and one newer (m6).
      assert.deepEqual(around.map((m) => m.content), ['m6', 'm5', 'm4', 'm3']);
      const last = await stores.messages.lastMessageIds([channel, other, ids.next()]);
      assert.equal(last.get(channel), rows[9]!.id);
      assert.equal(last.size, 2);
      const many = await stores.messages.findMany(channel, [rows[1]!.id, rows[2]!.id, ids.next()]);
      assert.deepEqual(many.map((m) => m.id).sort(), [rows[1]!.id, rows[2]!.id].sort());
    });

    it('adds a reaction once per user and emoji, removes it, and lists reactions', async () => {
      const channel = ids.next();
      const m = message(channel);
      await stores.messages.insertMany([m]);
      const r = (userId: string, emoji: string) => ({ messageId: m.id, channelId: channel, userId, emoji, createdAt: T0 });
      assert.equal(await stores.messages.addReaction(r('1', '👍')), true);
      assert.equal(await stores.messages.addReaction(r('1', '👍')), false);
      assert.equal(await stores.messages.addReaction(r('2', '👍')), true);
      assert.equal(await stores.messages.addReaction(r('1', '🎉')), true);
      assert.equal((await stores.messages.reactions([m.id])).length, 3);
      assert.equal(await stores.messages.removeReaction(m.id, '1', '👍'), true);
      assert.equal(await stores.messages.removeReaction(m.id, '1', '👍'), false);
      const left = await stores.messages.reactions([m.id]);
      assert.deepEqual(left.map((x) => [x.userId, x.emoji]).sort(), [['1', '🎉'], ['2', '👍']]);
    });

    it('historyWithReactions: the same page as history, with exactly the reactions of its messages, in every cursor mode', async () => {
      const channel = ids.next();
      const msgs = Array.from({ length: 6 }, () => message(channel));
      await stores.messages.insertMany(msgs);
      const other = message(ids.next());
      await stores.messages.insertMany([other]);
      const react = (m: MessageRecord, userId: string, emoji: string, at: number) =>
        stores.messages.addReaction({ messageId: m.id, channelId: m.channelId, userId, emoji, createdAt: T0 + at });
      await react(msgs[1]!, '7', '👍', 2);
      await react(msgs[1]!, '8', '👍', 1);
      await react(msgs[4]!, '7', '🎉', 3);
      await react(other, '7', '👍', 4);
      const queries = [
        { before: null, limit: 10 },
        { before: msgs[5]!.id, limit: 3 },
        { before: null, after: msgs[0]!.id, limit: 2 },
        { before: null, around: msgs[3]!.id, limit: 4 },
      ];
      for (const q of queries) {
        const { messages, reactions } = await stores.messages.historyWithReactions(channel, q);
        assert.deepEqual(messages, await stores.messages.history(channel, q), JSON.stringify(q));
        const expected = await stores.messages.reactions(messages.map((m) => m.id));
        const key = (r: { messageId: string; userId: string; emoji: string; createdAt: number }) => `${r.messageId}/${r.userId}/${r.emoji}/${r.createdAt}`;
        assert.deepEqual(reactions.map(key).sort(), expected.map(key).sort(), JSON.stringify(q));
      }
      const latest = await stores.messages.historyWithReactions(channel, { before: null, limit: 10 });
      assert.deepEqual(latest.reactions.filter((r) => r.messageId === msgs[1]!.id).map((r) => r.userId), ['8', '7'], 'oldest reaction first');
    });

    it('read states: mentions accumulate, ack moves forward only and resets the count', async () => {
      const user = ids.next();
      const channel = ids.next();
      await stores.readStates.addMentions(channel, [user, user]);
      await stores.readStates.addMentions(channel, [user]);
      assert.deepEqual(await stores.readStates.list(user), [{ userId: user, channelId: channel, lastReadId: '0', mentionCount: 2 }]);
      const later = ids.next();
      assert.deepEqual(await stores.readStates.ack(user, channel, later), { userId: user, channelId: channel, lastReadId: later, mentionCount: 0 });
      const back = await stores.readStates.ack(user, channel, '1000');
      assert.equal(back.lastReadId, later);
    });

    it('mutes: set, replace, expire by time, delete', async () => {
      const user = ids.next();
      const [a, b] = [ids.next(), ids.next()];
      await stores.mutes.set({ userId: user, targetId: a, targetType: 0, until: null });
      await stores.mutes.set({ userId: user, targetId: b, targetType: 1, until: T0 + 1000 });
      assert.deepEqual(await stores.mutes.mutedAmong([user, '3'], [a], T0), new Set([user]));
      assert.deepEqual(await stores.mutes.mutedAmong([user], [b], T0 + 999), new Set([user]));
      assert.deepEqual(await stores.mutes.mutedAmong([user], [b], T0 + 1000), new Set());
      await stores.mutes.set({ userId: user, targetId: b, targetType: 1, until: null });
      assert.deepEqual((await stores.mutes.list(user)).map((m) => [m.targetId, m.until]).sort(), [[a, null], [b, null]].sort());
      assert.equal(await stores.mutes.delete(user, a), true);
      assert.equal(await stores.mutes.delete(user, a), false);
    });
  });
}
