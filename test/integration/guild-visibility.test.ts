/**
 * Visibility over real sockets (Postgres + Redis): a member who loses VIEW_CHANNEL — by an
 * @everyone overwrite, a role removed or deleted, a member overwrite, or @everyone's own
 * permissions — gets CHANNEL_DELETE on every session and not one event of that channel after,
 * cannot read it, and does not see it in a new READY; gaining access back delivers CHANNEL_CREATE
 * and the messages after it (not those from before). Also mentions and typed system messages.
 *
 * "Nothing arrived" is proved with a sentinel: a later message in a channel the member still
 * sees; events of one guild reach a session in the order the guild emitted them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ErrorCode, EventType, MessageType, Method } from '../../protocol/opcodes.ts';
import { DEFAULT_EVERYONE_PERMISSIONS, Permission as P } from '../../protocol/permissions.ts';
import { GuildhallError, type GuildhallClient } from '../../protocol/client/index.ts';
import type { DispatchEvent, Message, Role } from '../../protocol/types.ts';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/test-server.ts';

async function refused(p: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof GuildhallError && e.code === code);
}

/** Records every event `c` receives until stop(). */
function record(c: GuildhallClient) {
  const events: DispatchEvent[] = [];
  const stop = c.on('*', (_data, ev) => events.push(ev));
  const of = <T>(type: string) => events.filter((e) => e.type === type).map((e) => e.data as T);
  return { events, stop, messages: () => of<Message>(EventType.MESSAGE_CREATE), mentions: () => of<{ messageId: string }>(EventType.MESSAGE_MENTION) };
}

describe('guild visibility, mentions and system messages (services)', () => {
  let server: TestServer;
  let member: TestUser;
  let o: GuildhallClient; // owner: sees everything, the control that hidden messages were really sent
  let m: GuildhallClient; // holds "staff"
  let u1: GuildhallClient; // the member whose access changes, on two sessions
  let u2: GuildhallClient;
  let x: GuildhallClient; // outsider
  let ids: { o: string; m: string; u: string; x: string };
  let gid: string;
  let general: string;
  let staff: Role;
  const noMentionEveryone = String(DEFAULT_EVERYONE_PERMISSIONS & ~P.MENTION_EVERYONE);

  const send = (c: GuildhallClient, channelId: string, content: string) => c.request(Method.MESSAGE_SEND, { guildId: gid, channelId, content });
  const channel = (name: string) => o.request(Method.CHANNEL_CREATE, { guildId: gid, name });
  const visibleInNewSession = async () => {
    const c = await member.connect();
    try {
      return c.ready!.guilds.find((g) => g.id === gid)!.channels.map((ch) => ch.id);
    } finally {
      await c.close();
    }
  };

  let n = 0;
  /** Resolves once every client got a message sent (by the owner, in `channelId`) after everything before. */
  async function sync(clients: GuildhallClient[], channelId = general): Promise<void> {
    const content = `sentinel ${++n}`;
    const seen = clients.map((c) => c.waitFor(EventType.MESSAGE_CREATE, (msg) => msg.content === content));
    await send(o, channelId, content);
    await Promise.all(seen);
  }

  /** `change` must take the member's sight of `channelId` away, at once and on every session. */
  async function expectLoss(channelId: string, change: () => Promise<unknown>, stillSees: GuildhallClient[] = [o]): Promise<void> {
    const recs = [record(u1), record(u2)];
    const deleted = [u1, u2].map((c) => c.waitFor(EventType.CHANNEL_DELETE, (d) => d.id === channelId));
    await change();
    await Promise.all(deleted);
    const last = `hidden ${n}.2`;
    const control = stillSees.map((c) => c.waitFor(EventType.MESSAGE_CREATE, (msg) => msg.content === last));
    for (let i = 0; i < 3; i++) await send(o, channelId, `hidden ${n}.${i}`);
    await Promise.all(control);
    await sync([u1, u2]);
    for (const r of recs) {
      r.stop();
      assert.deepEqual(r.messages().filter((msg) => msg.channelId === channelId).map((msg) => msg.content), [], 'no message of the hidden channel');
      assert.deepEqual(r.events.filter((e) => (e.data as { channelId?: string }).channelId === channelId && e.type !== EventType.CHANNEL_DELETE), []);
    }
    await refused(u1.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId }), ErrorCode.UNKNOWN_CHANNEL);
    await refused(u2.request(Method.MESSAGE_SEND, { guildId: gid, channelId, content: 'hello?' }), ErrorCode.UNKNOWN_CHANNEL);
    assert.ok(!(await visibleInNewSession()).includes(channelId), 'not in READY');
  }

  /** `change` must give the member sight of `channelId`: CHANNEL_CREATE, then messages from then on only. */
  async function expectGain(channelId: string, change: () => Promise<unknown>): Promise<void> {
    const recs = [record(u1), record(u2)];
    const earlier = await send(o, channelId, `before the grant ${n}`);
    const created = [u1, u2].map((c) => c.waitFor(EventType.CHANNEL_CREATE, (ch) => ch.id === channelId));
    await change();
    assert.equal((await Promise.all(created))[0]!.guildId, gid);
    const seen = [u1, u2].map((c) => c.waitFor(EventType.MESSAGE_CREATE, (msg) => msg.channelId === channelId && msg.content === 'welcome back'));
    await send(o, channelId, 'welcome back');
    await Promise.all(seen);
    for (const r of recs) {
      r.stop();
      assert.ok(!r.messages().some((msg) => msg.id === earlier.id), 'no message from before the grant');
    }
    const history = await u1.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId, limit: 5 });
    assert.equal(history[1]?.id, earlier.id, 'but history has it');
    assert.ok((await visibleInNewSession()).includes(channelId), 'in READY');
  }

  before(async () => {
    server = await startTestServer('services');
    const users = await Promise.all([signUp(server, 'owner'), signUp(server, 'staff'), signUp(server, 'member'), signUp(server, 'outsider')]);
    member = users[2];
    [o, m, u1, u2, x] = await Promise.all([users[0].connect(), users[1].connect(), member.connect(), member.connect(), users[3].connect()]);
    ids = { o: users[0].user.id, m: users[1].user.id, u: member.user.id, x: users[3].user.id };
    const guild = await o.request(Method.GUILD_CREATE, { name: 'Visibility' });
    gid = guild.id;
    general = guild.channels[0]!.id;
    const { code } = await o.request(Method.INVITE_CREATE, { guildId: gid });
    await m.request(Method.INVITE_JOIN, { code });
    await u1.request(Method.INVITE_JOIN, { code });
    staff = await o.request(Method.ROLE_CREATE, { guildId: gid, name: 'staff' });
    await o.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.m, roleId: staff.id });
    // Nobody but the owner may ping everyone here (see the mention tests).
    await o.request(Method.ROLE_UPDATE, { guildId: gid, roleId: gid, permissions: noMentionEveryone });
  });

  after(async () => {
    await Promise.all([o, m, u1, u2, x].map((c) => c?.close()));
    await server?.dispose();
  });

  test('an @everyone overwrite denying VIEW_CHANNEL hides the channel; a role overwrite keeps it for staff; removing it restores', async () => {
    const secret = await channel('secret');
    await o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: secret.id, targetId: staff.id, type: 'role', allow: String(P.VIEW_CHANNEL) });
    await expectLoss(secret.id, () => o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: secret.id, targetId: gid, type: 'role', deny: String(P.VIEW_CHANNEL) }), [o, m]);
    await expectGain(secret.id, () => o.request(Method.OVERWRITE_DELETE, { guildId: gid, channelId: secret.id, targetId: gid }));
  });

  test('a role granting VIEW_CHANNEL: assigning it shows the channel, removing or deleting the role hides it', async () => {
    const vip = await o.request(Method.ROLE_CREATE, { guildId: gid, name: 'vip' });
    const lounge = await channel('vip-lounge');
    await o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: lounge.id, targetId: vip.id, type: 'role', allow: String(P.VIEW_CHANNEL) });
    const hidden = u1.waitFor(EventType.CHANNEL_DELETE, (d) => d.id === lounge.id);
    await o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: lounge.id, targetId: gid, type: 'role', deny: String(P.VIEW_CHANNEL) });
    await hidden;
    await expectGain(lounge.id, () => o.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: vip.id }));
    await expectLoss(lounge.id, () => o.request(Method.MEMBER_ROLE_REMOVE, { guildId: gid, userId: ids.u, roleId: vip.id }));
    await expectGain(lounge.id, () => o.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: vip.id }));
    await expectLoss(lounge.id, () => o.request(Method.ROLE_DELETE, { guildId: gid, roleId: vip.id }));
  });

  test('a member overwrite denying VIEW_CHANNEL hides the channel from that member only', async () => {
    const lobby = await channel('lobby');
    await expectLoss(lobby.id, () => o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: lobby.id, targetId: ids.u, type: 'member', deny: String(P.VIEW_CHANNEL) }), [o, m]);
    await expectGain(lobby.id, () => o.request(Method.OVERWRITE_DELETE, { guildId: gid, channelId: lobby.id, targetId: ids.u }));
  });

  test('@everyone losing VIEW_CHANNEL hides every channel without an allow overwrite, from every member it affects', async () => {
    const welcome = await channel('welcome');
    await o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: welcome.id, targetId: gid, type: 'role', allow: String(P.VIEW_CHANNEL) });
    const others = (await visibleInNewSession()).filter((id) => id !== welcome.id);
    assert.ok(others.length >= 3, `only ${others.length}`);
    const rec = record(u1);
    const mRec = record(m);
    const gone = others.map((id) => u2.waitFor(EventType.CHANNEL_DELETE, (d) => d.id === id));
    const everyoneWithout = String(BigInt(noMentionEveryone) & ~P.VIEW_CHANNEL);
    await o.request(Method.ROLE_UPDATE, { guildId: gid, roleId: gid, permissions: everyoneWithout });
    await Promise.all(gone);
    await send(o, general, 'nobody but the owner reads this');
    await sync([u1, u2, m], welcome.id);
    rec.stop();
    mRec.stop();
    assert.deepEqual(rec.messages().map((msg) => msg.channelId), [welcome.id]);
    assert.deepEqual(mRec.messages().map((msg) => msg.channelId), [welcome.id], 'staff has no allow overwrite on general either');
    assert.deepEqual(await visibleInNewSession(), [welcome.id]);

    const back = others.map((id) => u2.waitFor(EventType.CHANNEL_CREATE, (c) => c.id === id));
    await o.request(Method.ROLE_UPDATE, { guildId: gid, roleId: gid, permissions: noMentionEveryone });
    await Promise.all(back);
    await sync([u1, u2, m]);
  });

  test('user mentions notify the mentioned member on every session, nobody else; non-members are dropped', async () => {
    const [uRec, oRec, xRec] = [record(u1), record(o), record(x)];
    const pinged = [u1, u2].map((c) => c.waitFor(EventType.MESSAGE_MENTION));
    const msg = await send(m, general, `hey <@${ids.u}>, <@!${ids.u}> and <@${ids.x}>`);
    assert.deepEqual(msg.mentions, { users: [ids.u], roles: [], everyone: false });
    for (const p of await Promise.all(pinged)) assert.deepEqual(p, { messageId: msg.id, channelId: general, guildId: gid, authorId: ids.m });
    await sync([o, u1]);
    [uRec, oRec, xRec].forEach((r) => r.stop());
    assert.deepEqual(uRec.mentions().map((p) => p.messageId), [msg.id], 'exactly one notification per session');
    assert.deepEqual([oRec.mentions(), xRec.mentions()], [[], []]);
  });

  test('role mentions notify only when the role is mentionable or the author has MENTION_EVERYONE', async () => {
    const pingable = await o.request(Method.ROLE_CREATE, { guildId: gid, name: 'pingable' });
    await o.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: pingable.id });
    const rec = record(u1);
    const quiet = await send(m, general, `<@&${pingable.id}> not mentionable`);
    assert.deepEqual(quiet.mentions.roles, []);
    await o.request(Method.ROLE_UPDATE, { guildId: gid, roleId: pingable.id, mentionable: true });
    const loud = await send(m, general, `<@&${pingable.id}> mentionable now`);
    assert.deepEqual(loud.mentions.roles, [pingable.id]);
    await o.request(Method.ROLE_UPDATE, { guildId: gid, roleId: pingable.id, mentionable: false });
    const byOwner = await send(o, general, `<@&${pingable.id}> from someone with MENTION_EVERYONE`);
    assert.deepEqual(byOwner.mentions.roles, [pingable.id]);
    await sync([u1]);
    rec.stop();
    assert.deepEqual(rec.mentions().map((p) => p.messageId), [loud.id, byOwner.id]);
    const stored = await u1.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId: general, limit: 10 });
    assert.deepEqual(stored.find((s) => s.id === quiet.id)?.mentions.roles, []);
  });

  test('@everyone and @here without MENTION_EVERYONE are stored as plain text (mentions.everyone false)', async () => {
    const plain = await send(m, general, '@everyone look at this');
    assert.equal(plain.mentions.everyone, false);
    assert.equal(plain.content, '@everyone look at this');
    const fromOwner = await send(o, general, '@here look at this');
    assert.equal(fromOwner.mentions.everyone, true);
    // MENTION_EVERYONE granted in one channel by a member overwrite.
    await o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: general, targetId: ids.m, type: 'member', allow: String(P.MENTION_EVERYONE) });
    assert.equal((await send(m, general, '@everyone now I may')).mentions.everyone, true);
    await o.request(Method.OVERWRITE_DELETE, { guildId: gid, channelId: general, targetId: ids.m });
    const stored = await u1.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId: general, limit: 10 });
    assert.equal(stored.find((s) => s.id === plain.id)?.mentions.everyone, false);
    assert.equal(stored.find((s) => s.id === fromOwner.id)?.mentions.everyone, true);
  });

  test('a mentioned member who cannot see the channel gets no MESSAGE_MENTION', async () => {
    const backroom = await channel('backroom');
    const hidden = u1.waitFor(EventType.CHANNEL_DELETE, (d) => d.id === backroom.id);
    await o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: backroom.id, targetId: ids.u, type: 'member', deny: String(P.VIEW_CHANNEL) });
    await hidden;
    const pingable = await o.request(Method.ROLE_CREATE, { guildId: gid, name: 'pinged', mentionable: true });
    await o.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: pingable.id });
    await o.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.m, roleId: pingable.id });
    const rec = record(u1);
    const mPinged = m.waitFor(EventType.MESSAGE_MENTION, (p) => p.channelId === backroom.id);
    await send(o, backroom.id, `<@${ids.u}> you cannot see this`);
    const byRole = await send(o, backroom.id, `<@&${pingable.id}> nor this`);
    assert.equal((await mPinged).messageId, byRole.id, 'the role holder who can see it is notified');
    const visible = await send(o, general, `<@${ids.u}> but this`);
    await sync([u1]);
    rec.stop();
    assert.deepEqual(rec.mentions().map((p) => p.messageId), [visible.id]);
  });

  test('joins and leaves post typed system messages in the system channel, wherever it is', async () => {
    const joined = o.waitFor(EventType.MESSAGE_CREATE, (msg) => msg.type === MessageType.MEMBER_JOIN && msg.authorId === ids.x);
    const { code } = await o.request(Method.INVITE_CREATE, { guildId: gid });
    await x.request(Method.INVITE_JOIN, { code });
    const join = await joined;
    assert.deepEqual([join.channelId, join.content, join.guildId], [general, '', gid]);
    const left = o.waitFor(EventType.MESSAGE_CREATE, (msg) => msg.type === MessageType.MEMBER_LEAVE && msg.authorId === ids.x);
    await x.request(Method.GUILD_LEAVE, { guildId: gid });
    assert.equal((await left).channelId, general);
    const history = await o.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId: general, limit: 2 });
    assert.deepEqual(history.map((msg) => [msg.type, msg.authorId]), [[MessageType.MEMBER_LEAVE, ids.x], [MessageType.MEMBER_JOIN, ids.x]]);

    const announcements = await channel('announcements');
    await o.request(Method.GUILD_UPDATE, { guildId: gid, systemChannelId: announcements.id });
    const rejoined = o.waitFor(EventType.MESSAGE_CREATE, (msg) => msg.type === MessageType.MEMBER_JOIN && msg.authorId === ids.x);
    await x.request(Method.INVITE_JOIN, { code });
    assert.equal((await rejoined).channelId, announcements.id);
  });
});
