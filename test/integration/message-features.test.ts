/**
 * Message features in guild channels and DMs over real sockets: edits, deletes, replies,
 * reactions, pins, typing, history cursors, nonce de-duplication, read states across tabs,
 * mention counts and mutes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ErrorCode, EventType, Method } from '../../protocol/opcodes.ts';
import { formatBitfield, DEFAULT_EVERYONE_PERMISSIONS, Permission } from '../../protocol/permissions.ts';
import { GuildhallError, type GuildhallClient } from '../../protocol/client/index.ts';
import type { DispatchEvent, Dm, Guild, Message } from '../../protocol/types.ts';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/test-server.ts';

const code = (c: number) => (e: GuildhallError) => e.code === c;

describe('message features', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let a1: GuildhallClient;
  let a2: GuildhallClient;
  let b1: GuildhallClient;
  let guild: Guild;
  let channelId: string;
  let dm: Dm;
  const inGuild = (): { guildId: string; channelId: string; dmId?: null } => ({ guildId: guild.id, channelId });

  before(async () => {
    server = await startTestServer('services');
    [alice, bob] = await Promise.all([signUp(server, 'alice'), signUp(server, 'bob')]);
    [a1, a2, b1] = await Promise.all([alice.connect(), alice.connect(), bob.connect()]);
    guild = await a1.request(Method.GUILD_CREATE, { name: 'Features' });
    channelId = guild.channels[0]!.id;
    const invite = await a1.request(Method.INVITE_CREATE, { guildId: guild.id });
    await b1.request(Method.INVITE_JOIN, { code: invite.code });
    dm = await a1.request(Method.DM_OPEN, { userId: bob.user.id });
  });

  after(async () => {
    await Promise.all([a1, a2, b1].map((c) => c?.close()));
    await server?.dispose();
  });

  test('edit: author only, MESSAGE_UPDATE reaches every tab, editedAt kept in history', async () => {
    const m = await a1.request(Method.MESSAGE_SEND, { ...inGuild(), content: 'frist' });
    const onBob = b1.waitFor(EventType.MESSAGE_UPDATE, (u) => u.id === m.id);
    const onTab = a2.waitFor(EventType.MESSAGE_UPDATE, (u) => u.id === m.id);
    const edited = await a1.request(Method.MESSAGE_EDIT, { ...inGuild(), messageId: m.id, content: 'first' });
    assert.equal(edited.content, 'first');
    assert.ok(edited.editedAt !== null && edited.editedAt >= m.createdAt);
    assert.equal((await onBob).content, 'first');
    assert.equal((await onTab).editedAt, edited.editedAt);
    await assert.rejects(b1.request(Method.MESSAGE_EDIT, { ...inGuild(), messageId: m.id, content: 'hijack' }), code(ErrorCode.FORBIDDEN));
    const [latest] = await b1.request(Method.MESSAGE_HISTORY, { ...inGuild(), limit: 1 });
    assert.deepEqual([latest!.id, latest!.content, latest!.editedAt], [m.id, 'first', edited.editedAt]);
  });

  test('replies carry a preview of the referenced message; unknown targets are refused', async () => {
    const original = await a1.request(Method.MESSAGE_SEND, { ...inGuild(), content: 'question?' });
    const seen = a2.waitFor(EventType.MESSAGE_CREATE, (m) => m.replyToId === original.id);
    const reply = await b1.request(Method.MESSAGE_SEND, { ...inGuild(), content: 'answer', replyTo: original.id });
    assert.deepEqual(reply.referencedMessage, { id: original.id, authorId: alice.user.id, type: 0, content: 'question?' });
    assert.equal((await seen).referencedMessage?.content, 'question?');
    const [fromHistory] = await a1.request(Method.MESSAGE_HISTORY, { ...inGuild(), limit: 1 });
    assert.equal(fromHistory!.referencedMessage?.id, original.id);
    await assert.rejects(b1.request(Method.MESSAGE_SEND, { ...inGuild(), content: 'x', replyTo: '12345' }), code(ErrorCode.UNKNOWN_MESSAGE));
  });

  test('reactions: add/remove with events, counts and `me` per viewer, emoji validated, ADD_REACTIONS enforced', async () => {
    const m = await a1.request(Method.MESSAGE_SEND, { ...inGuild(), content: 'react to me' });
    const added = a2.waitFor(EventType.MESSAGE_REACTION_ADD, (r) => r.messageId === m.id && r.userId === bob.user.id);
    await b1.request(Method.REACTION_ADD, { ...inGuild(), messageId: m.id, emoji: '👍' });
    await a1.request(Method.REACTION_ADD, { ...inGuild(), messageId: m.id, emoji: '👍' });
    await a1.request(Method.REACTION_ADD, { ...inGuild(), messageId: m.id, emoji: '🎉' });
    assert.equal((await added).emoji, '👍');
    const seenBy = async (c: GuildhallClient) => (await c.request(Method.MESSAGE_HISTORY, { ...inGuild(), around: m.id, limit: 1 }))[0]!.reactions;
    assert.deepEqual(await seenBy(b1), [{ emoji: '👍', count: 2, me: true }, { emoji: '🎉', count: 1, me: false }]);
    const removed = a2.waitFor(EventType.MESSAGE_REACTION_REMOVE, (r) => r.messageId === m.id);
    await b1.request(Method.REACTION_REMOVE, { ...inGuild(), messageId: m.id, emoji: '👍' });
    assert.equal((await removed).userId, bob.user.id);
    assert.deepEqual(await seenBy(b1), [{ emoji: '👍', count: 1, me: false }, { emoji: '🎉', count: 1, me: false }]);
    await assert.rejects(b1.request(Method.REACTION_ADD, { ...inGuild(), messageId: m.id, emoji: 'lol' }), code(ErrorCode.INVALID_PAYLOAD));
    // Without ADD_REACTIONS for @everyone, bob may no longer react.
    const noReactions = DEFAULT_EVERYONE_PERMISSIONS & ~Permission.ADD_REACTIONS;
    await a1.request(Method.ROLE_UPDATE, { guildId: guild.id, roleId: guild.id, permissions: formatBitfield(noReactions) });
    await assert.rejects(b1.request(Method.REACTION_ADD, { ...inGuild(), messageId: m.id, emoji: '🎉' }), code(ErrorCode.MISSING_PERMISSIONS));
    await a1.request(Method.ROLE_UPDATE, { guildId: guild.id, roleId: guild.id, permissions: formatBitfield(DEFAULT_EVERYONE_PERMISSIONS) });
  });

  test('pins: PIN_MESSAGES in guilds, any participant in DMs; list and unpin', async () => {
    const m = await b1.request(Method.MESSAGE_SEND, { ...inGuild(), content: 'pin me' });
    await assert.rejects(b1.request(Method.MESSAGE_PIN, { ...inGuild(), messageId: m.id }), code(ErrorCode.MISSING_PERMISSIONS));
    const update = b1.waitFor(EventType.MESSAGE_UPDATE, (u) => u.id === m.id && u.pinned === true);
    const pinned = await a1.request(Method.MESSAGE_PIN, { ...inGuild(), messageId: m.id });
    assert.equal(pinned.pinned, true);
    await update;
    assert.deepEqual((await b1.request(Method.MESSAGE_PINS, inGuild())).map((x) => x.id), [m.id]);
    await a1.request(Method.MESSAGE_UNPIN, { ...inGuild(), messageId: m.id });
    assert.deepEqual(await b1.request(Method.MESSAGE_PINS, inGuild()), []);

    const d = await a1.request(Method.DM_SEND, { dmId: dm.id, content: 'dm pin' });
    await b1.request(Method.MESSAGE_PIN, { dmId: dm.id, messageId: d.id });
    assert.deepEqual((await a1.request(Method.MESSAGE_PINS, { dmId: dm.id })).map((x) => x.id), [d.id]);
  });

  test('deletes: DM authors only; guild deletes reach members', async () => {
    const d = await a1.request(Method.DM_SEND, { dmId: dm.id, content: 'oops' });
    await assert.rejects(b1.request(Method.MESSAGE_DELETE, { dmId: dm.id, messageId: d.id }), code(ErrorCode.FORBIDDEN));
    const gone = b1.waitFor(EventType.MESSAGE_DELETE, (x) => x.id === d.id);
    await a1.request(Method.MESSAGE_DELETE, { dmId: dm.id, messageId: d.id });
    assert.equal((await gone).channelId, dm.id);
    assert.ok(!(await b1.request(Method.DM_HISTORY, { dmId: dm.id })).some((x) => x.id === d.id));
    await assert.rejects(a1.request(Method.MESSAGE_DELETE, { dmId: dm.id, messageId: d.id }), code(ErrorCode.UNKNOWN_MESSAGE));
  });

  test('typing is ephemeral (seq 0), reaches the other side, and is throttled', async () => {
    const events: DispatchEvent[] = [];
    const off = b1.on('*', (_d, ev) => {
      if (ev.type === EventType.TYPING_START) events.push(ev);
    });
    await a1.request(Method.TYPING_START, inGuild());
    await a1.request(Method.TYPING_START, inGuild());
    await a1.request(Method.TYPING_START, { dmId: dm.id });
    const sentinel = await a1.request(Method.MESSAGE_SEND, { ...inGuild(), content: 'after typing' });
    await b1.waitFor(EventType.MESSAGE_CREATE, (m) => m.id === sentinel.id);
    off();
    assert.equal(events.length, 2, 'the repeated guild typing.start is throttled');
    assert.ok(events.every((e) => e.seq === 0));
    const data = events.map((e) => e.data as { channelId: string; userId: string; expiresAt: number });
    assert.deepEqual(data.map((d) => d.channelId).sort(), [channelId, dm.id].sort());
    assert.ok(data.every((d) => d.userId === alice.user.id && d.expiresAt > Date.now()));
  });

  test('history cursors: after and around; two cursors at once are refused', async () => {
    const sent: Message[] = [];
    for (let i = 0; i < 9; i++) sent.push(await a1.request(Method.DM_SEND, { dmId: dm.id, content: `c${i}` }));
    const afterPage = await b1.request(Method.DM_HISTORY, { dmId: dm.id, after: sent[2]!.id, limit: 3 });
    assert.deepEqual(afterPage.map((m) => m.content), ['c5', 'c4', 'c3']);
    const around = await b1.request(Method.DM_HISTORY, { dmId: dm.id, around: sent[4]!.id, limit: 5 });
    assert.deepEqual(around.map((m) => m.content), ['c6', 'c5', 'c4', 'c3', 'c2']);
    await assert.rejects(b1.request(Method.DM_HISTORY, { dmId: dm.id, after: sent[1]!.id, before: sent[5]!.id }), code(ErrorCode.INVALID_PAYLOAD));
    await assert.rejects(
      b1.request(Method.MESSAGE_PINS, { dmId: dm.id, guildId: guild.id, channelId } as never),
      code(ErrorCode.INVALID_PAYLOAD),
    );
  });

  test('a resent nonce returns the original message and creates no second one', async () => {
    const created: Message[] = [];
    const off = b1.on(EventType.MESSAGE_CREATE, (m) => {
      if (m.nonce === 'same-nonce') created.push(m);
    });
    const [first, second] = await Promise.all([
      a1.request(Method.MESSAGE_SEND, { ...inGuild(), content: 'once', nonce: 'same-nonce' }),
      a1.request(Method.MESSAGE_SEND, { ...inGuild(), content: 'once', nonce: 'same-nonce' }),
    ]);
    const third = await a2.request(Method.MESSAGE_SEND, { ...inGuild(), content: 'once', nonce: 'same-nonce' });
    assert.equal(second.id, first.id);
    assert.equal(third.id, first.id);
    const sentinel = await a1.request(Method.MESSAGE_SEND, { ...inGuild(), content: 'sentinel' });
    await b1.waitFor(EventType.MESSAGE_CREATE, (m) => m.id === sentinel.id);
    off();
    assert.equal(created.length, 1);
    const page = await b1.request(Method.MESSAGE_HISTORY, { ...inGuild(), limit: 5 });
    assert.equal(page.filter((m) => m.nonce === 'same-nonce').length, 1);
  });

  test('read states: mentions and DMs count, ack syncs across tabs and resets, READY carries them', async () => {
    const mention = await b1.request(Method.MESSAGE_SEND, { ...inGuild(), content: `hey <@${alice.user.id}>` });
    await a1.waitFor(EventType.MESSAGE_MENTION, (x) => x.messageId === mention.id);
    const dmMsg = await b1.request(Method.DM_SEND, { dmId: dm.id, content: 'unread dm' });
    await a1.waitFor(EventType.MESSAGE_CREATE, (x) => x.id === dmMsg.id);
    let fresh = await alice.connect();
    const byChannel = (c: GuildhallClient) => new Map(c.ready!.readStates.map((r) => [r.channelId, r]));
    assert.equal(byChannel(fresh).get(channelId)?.mentionCount, 1);
    assert.ok((byChannel(fresh).get(dm.id)?.mentionCount ?? 0) >= 1);
    assert.equal(fresh.ready!.guilds[0]!.channels.find((c) => c.id === channelId)?.lastMessageId, mention.id);
    await fresh.close();

    const synced = a2.waitFor(EventType.READ_STATE_UPDATE, (r) => r.channelId === channelId);
    const acked = await a1.request(Method.MESSAGE_ACK, { ...inGuild(), messageId: mention.id });
    assert.deepEqual(acked, { channelId, lastReadId: mention.id, mentionCount: 0 });
    assert.deepEqual(await synced, acked);
    // Acking an older message never moves the marker back; unknown messages are refused.
    const [, older] = await a1.request(Method.MESSAGE_HISTORY, { ...inGuild(), before: mention.id, limit: 2 });
    const again = await a1.request(Method.MESSAGE_ACK, { ...inGuild(), messageId: older!.id });
    assert.equal(again.lastReadId, mention.id);
    await assert.rejects(a1.request(Method.MESSAGE_ACK, { ...inGuild(), messageId: '12345' }), code(ErrorCode.UNKNOWN_MESSAGE));
    const dmAck = await a1.request(Method.MESSAGE_ACK, { dmId: dm.id, messageId: dmMsg.id });
    assert.equal(dmAck.mentionCount, 0);
    fresh = await alice.connect();
    assert.deepEqual(byChannel(fresh).get(channelId), { channelId, lastReadId: mention.id, mentionCount: 0 });
    await fresh.close();
  });

  test('mutes: no MESSAGE_MENTION while muted, counts still grow; MUTE_UPDATE syncs tabs; READY lists mutes', async () => {
    const synced = a2.waitFor(EventType.MUTE_UPDATE, (m) => m.targetId === channelId);
    const mute = await a1.request(Method.MUTE_SET, { targetId: channelId, type: 'channel' });
    assert.deepEqual(mute, { targetId: channelId, type: 'channel', until: null });
    assert.equal((await synced).muted, true);
    let mentioned = 0;
    const off = a1.on(EventType.MESSAGE_MENTION, () => mentioned++);
    const m = await b1.request(Method.MESSAGE_SEND, { ...inGuild(), content: `muted ping <@${alice.user.id}>` });
    await a1.waitFor(EventType.MESSAGE_CREATE, (x) => x.id === m.id);
    const sentinel = await b1.request(Method.DM_SEND, { dmId: dm.id, content: 'sentinel' });
    await a1.waitFor(EventType.MESSAGE_CREATE, (x) => x.id === sentinel.id);
    await new Promise((r) => setTimeout(r, 50));
    off();
    assert.equal(mentioned, 0);
    const fresh = await alice.connect();
    assert.deepEqual(fresh.ready!.mutes, [{ targetId: channelId, type: 'channel', until: null }]);
    assert.equal(fresh.ready!.readStates.find((r) => r.channelId === channelId)?.mentionCount, 1);
    await fresh.close();
    await a1.request(Method.MUTE_DELETE, { targetId: channelId });
    await assert.rejects(a1.request(Method.MUTE_DELETE, { targetId: channelId }), code(ErrorCode.UNKNOWN_CHANNEL));
    await assert.rejects(a1.request(Method.MUTE_SET, { targetId: channelId, type: 'channel', until: 1 }), code(ErrorCode.INVALID_PAYLOAD));
  });
});
