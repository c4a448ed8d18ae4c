/**
 * Moderation over real sockets (Postgres + Redis): kicks, bans, timeouts, invites and the audit
 * log, each allowed and refused with the documented error code, and what the affected user's
 * sessions see. Cast: the owner, a moderator (role "mod"), a member with two sessions, an outsider.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuditAction, ErrorCode, EventType, MessageType, Method } from '../../protocol/opcodes.ts';
import { Permission as P, type PermissionName } from '../../protocol/permissions.ts';
import { GuildhallError, type GuildhallClient } from '../../protocol/client/index.ts';
import type { DispatchEvent, Guild, Role } from '../../protocol/types.ts';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/test-server.ts';

const bits = (...names: PermissionName[]) => String(names.reduce((a, n) => a | P[n], 0n));

async function refused(p: Promise<unknown>, code: number, missing?: PermissionName[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof GuildhallError, `expected a GuildhallError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (missing) assert.deepEqual((e.details as { missing?: string[] } | null)?.missing, missing);
    return true;
  });
}

/** Every event a client receives from now until stop(). */
function record(c: GuildhallClient): { events: DispatchEvent[]; stop: () => void } {
  const events: DispatchEvent[] = [];
  return { events, stop: c.on('*', (_data, ev) => events.push(ev)) };
}

describe('guild moderation (services)', () => {
  let server: TestServer;
  let member: TestUser;
  let o: GuildhallClient;
  let m: GuildhallClient;
  let u1: GuildhallClient;
  let u2: GuildhallClient;
  let x: GuildhallClient;
  let ids: { o: string; m: string; u: string; x: string };
  let gid: string;
  let general: string;
  const roles = {} as Record<'high' | 'mod' | 'admin', Role>;

  const invite = async () => (await o.request(Method.INVITE_CREATE, { guildId: gid })).code;
  const send = (c: GuildhallClient, content: string) => c.request(Method.MESSAGE_SEND, { guildId: gid, channelId: general, content });
  const systemMessages = async () =>
    (await o.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId: general, limit: 100 })).filter((msg) => msg.type !== MessageType.DEFAULT);

  let dms = 0;
  /** The guild goes on without the member; a DM afterwards proves their sessions are live and caught up. */
  async function expectCutOff(recorded: { events: DispatchEvent[]; stop: () => void }[]): Promise<void> {
    await send(o, 'after the removal');
    await o.request(Method.GUILD_UPDATE, { guildId: gid, description: `after removal ${dms}` });
    const dm = await o.request(Method.DM_OPEN, { userId: ids.u });
    const content = `sentinel dm ${++dms}`;
    const dmSeen = [u1, u2].map((c) => c.waitFor(EventType.MESSAGE_CREATE, (msg) => msg.content === content));
    await o.request(Method.DM_SEND, { dmId: dm.id, content });
    await Promise.all(dmSeen);
    for (const { events, stop } of recorded) {
      stop();
      const deleted = events.findIndex((e) => e.type === EventType.GUILD_DELETE && (e.data as { id: string }).id === gid);
      assert.ok(deleted >= 0, 'GUILD_DELETE received');
      const after = events.slice(deleted + 1);
      assert.ok(after.some((e) => (e.data as { content?: string }).content === content));
      assert.deepEqual(after.filter((e) => e.stream === `g:${gid}` || (e.data as { guildId?: string }).guildId === gid), [], 'no guild event after GUILD_DELETE');
    }
  }

  before(async () => {
    server = await startTestServer('services');
    const users = await Promise.all([signUp(server, 'owner'), signUp(server, 'mod'), signUp(server, 'member'), signUp(server, 'outsider')]);
    member = users[2];
    [o, m, u1, u2, x] = await Promise.all([users[0].connect(), users[1].connect(), member.connect(), member.connect(), users[3].connect()]);
    ids = { o: users[0].user.id, m: users[1].user.id, u: member.user.id, x: users[3].user.id };
    const guild: Guild = await o.request(Method.GUILD_CREATE, { name: 'Moderation' });
    gid = guild.id;
    general = guild.channels[0]!.id;
    const code = await invite();
    await m.request(Method.INVITE_JOIN, { code });
    await u1.request(Method.INVITE_JOIN, { code });
    roles.high = await o.request(Method.ROLE_CREATE, { guildId: gid, name: 'high' });
    roles.mod = await o.request(Method.ROLE_CREATE, {
      guildId: gid, name: 'mod',
      permissions: bits('KICK_MEMBERS', 'BAN_MEMBERS', 'MODERATE_MEMBERS', 'VIEW_AUDIT_LOG', 'MANAGE_GUILD', 'MANAGE_MESSAGES', 'MANAGE_NICKNAMES'),
    });
    roles.admin = await o.request(Method.ROLE_CREATE, { guildId: gid, name: 'admin', permissions: bits('ADMINISTRATOR') }); // below mod
    await o.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.m, roleId: roles.mod.id });
  });

  after(async () => {
    await Promise.all([o, m, u1, u2, x].map((c) => c?.close()));
    await server?.dispose();
  });

  test('member.kick: KICK_MEMBERS on members below the actor; the kicked user\'s sessions get GUILD_DELETE and nothing after', async () => {
    await refused(u1.request(Method.MEMBER_KICK, { guildId: gid, userId: ids.m }), ErrorCode.MISSING_PERMISSIONS, ['KICK_MEMBERS']);
    await refused(m.request(Method.MEMBER_KICK, { guildId: gid, userId: ids.o }), ErrorCode.HIERARCHY);
    await refused(m.request(Method.MEMBER_KICK, { guildId: gid, userId: ids.m }), ErrorCode.FORBIDDEN);
    await refused(m.request(Method.MEMBER_KICK, { guildId: gid, userId: ids.x }), ErrorCode.UNKNOWN_MEMBER);
    for (const role of [roles.mod, roles.high]) { // equal, then higher top role
      await o.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: role.id });
      await refused(m.request(Method.MEMBER_KICK, { guildId: gid, userId: ids.u }), ErrorCode.HIERARCHY);
      await o.request(Method.MEMBER_ROLE_REMOVE, { guildId: gid, userId: ids.u, roleId: role.id });
    }

    const [ev1, ev2] = [record(u1), record(u2)];
    const removed = o.waitFor(EventType.GUILD_MEMBER_REMOVE, (r) => r.user.id === ids.u);
    const deleted = [u1, u2].map((c) => c.waitFor(EventType.GUILD_DELETE, (g) => g.id === gid));
    assert.equal(await m.request(Method.MEMBER_KICK, { guildId: gid, userId: ids.u, reason: 'be nice' }), null);
    await Promise.all([removed, ...deleted]);

    await expectCutOff([ev1, ev2]);
    await refused(u1.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId: general }), ErrorCode.NOT_MEMBER);
    const fresh = await member.connect();
    assert.deepEqual(fresh.ready?.guilds.map((g) => g.id), []);
    await fresh.close();
    assert.deepEqual((await systemMessages()).map((msg) => [msg.type, msg.authorId])[0], [MessageType.MEMBER_KICK, ids.u]);

    // A kick is not a ban.
    assert.equal((await u1.request(Method.INVITE_JOIN, { code: await invite() })).id, gid);
  });

  test('ban.create/list/remove: BAN_MEMBERS; banned users cannot rejoin by invite until unbanned', async () => {
    await refused(u1.request(Method.BAN_CREATE, { guildId: gid, userId: ids.m }), ErrorCode.MISSING_PERMISSIONS, ['BAN_MEMBERS']);
    await refused(u1.request(Method.BAN_LIST, { guildId: gid }), ErrorCode.MISSING_PERMISSIONS, ['BAN_MEMBERS']);
    await refused(u1.request(Method.BAN_REMOVE, { guildId: gid, userId: ids.x }), ErrorCode.MISSING_PERMISSIONS, ['BAN_MEMBERS']);
    await refused(m.request(Method.BAN_CREATE, { guildId: gid, userId: ids.o }), ErrorCode.HIERARCHY);
    await refused(m.request(Method.BAN_CREATE, { guildId: gid, userId: ids.m }), ErrorCode.FORBIDDEN);

    const banAdd = o.waitFor(EventType.GUILD_BAN_ADD, (b) => b.user.id === ids.u);
    const memberRemove = o.waitFor(EventType.GUILD_MEMBER_REMOVE, (r) => r.user.id === ids.u);
    const gone = [u1, u2].map((c) => c.waitFor(EventType.GUILD_DELETE, (g) => g.id === gid));
    const [ev1, ev2] = [record(u1), record(u2)];
    const ban = await m.request(Method.BAN_CREATE, { guildId: gid, userId: ids.u, reason: 'spam' });
    assert.deepEqual([ban.user.id, ban.reason, ban.guildId], [ids.u, 'spam', gid]);
    await Promise.all([banAdd, memberRemove, ...gone]);
    await expectCutOff([ev1, ev2]);
    assert.deepEqual((await m.request(Method.BAN_LIST, { guildId: gid })).map((b) => [b.user.id, b.reason]), [[ids.u, 'spam']]);
    await refused(u1.request(Method.INVITE_JOIN, { code: await invite() }), ErrorCode.BANNED);
    await refused(u1.request(Method.MESSAGE_SEND, { guildId: gid, channelId: general, content: 'let me in' }), ErrorCode.NOT_MEMBER);
    assert.deepEqual((await systemMessages()).map((msg) => [msg.type, msg.authorId])[0], [MessageType.MEMBER_BAN, ids.u]);

    // Someone who never joined can be banned in advance.
    await m.request(Method.BAN_CREATE, { guildId: gid, userId: ids.x });
    await refused(x.request(Method.INVITE_JOIN, { code: await invite() }), ErrorCode.BANNED);
    await m.request(Method.BAN_REMOVE, { guildId: gid, userId: ids.x });

    const banRemove = o.waitFor(EventType.GUILD_BAN_REMOVE, (b) => b.user.id === ids.u);
    assert.equal(await m.request(Method.BAN_REMOVE, { guildId: gid, userId: ids.u, reason: 'served' }), null);
    await banRemove;
    await refused(m.request(Method.BAN_REMOVE, { guildId: gid, userId: ids.u }), ErrorCode.UNKNOWN_BAN);
    assert.deepEqual(await m.request(Method.BAN_LIST, { guildId: gid }), []);
    const back = u2.waitFor(EventType.GUILD_CREATE, (g) => g.id === gid);
    assert.equal((await u1.request(Method.INVITE_JOIN, { code: await invite() })).id, gid);
    await back;
  });

  test('member.timeout: MODERATE_MEMBERS below the actor, never an administrator; view and read only until cleared', async () => {
    const soon = () => Date.now() + 10 * 60_000;
    await refused(u1.request(Method.MEMBER_TIMEOUT, { guildId: gid, userId: ids.m, until: soon() }), ErrorCode.MISSING_PERMISSIONS, ['MODERATE_MEMBERS']);
    await refused(m.request(Method.MEMBER_TIMEOUT, { guildId: gid, userId: ids.o, until: soon() }), ErrorCode.HIERARCHY);
    await refused(m.request(Method.MEMBER_TIMEOUT, { guildId: gid, userId: ids.u, until: Date.now() - 1000 }), ErrorCode.INVALID_PAYLOAD);
    await refused(m.request(Method.MEMBER_TIMEOUT, { guildId: gid, userId: ids.u, until: Date.now() + 29 * 24 * 3600_000 }), ErrorCode.INVALID_PAYLOAD);
    await o.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: roles.admin.id });
    await refused(m.request(Method.MEMBER_TIMEOUT, { guildId: gid, userId: ids.u, until: soon() }), ErrorCode.FORBIDDEN);
    await o.request(Method.MEMBER_ROLE_REMOVE, { guildId: gid, userId: ids.u, roleId: roles.admin.id });

    const until = soon();
    const update = o.waitFor(EventType.GUILD_MEMBER_UPDATE, (mb) => mb.user.id === ids.u && mb.timeoutUntil === until);
    assert.equal((await m.request(Method.MEMBER_TIMEOUT, { guildId: gid, userId: ids.u, until, reason: 'cool down' })).timeoutUntil, until);
    await update;
    await refused(send(u1, 'can I talk?'), ErrorCode.MISSING_PERMISSIONS, ['SEND_MESSAGES']);
    await refused(u1.request(Method.INVITE_CREATE, { guildId: gid }), ErrorCode.MISSING_PERMISSIONS, ['CREATE_INSTANT_INVITE']);
    await refused(u1.request(Method.MEMBER_NICKNAME, { guildId: gid, userId: ids.u, nickname: 'quiet' }), ErrorCode.MISSING_PERMISSIONS, ['CHANGE_NICKNAME']);
    // Still reads, in realtime and in history.
    const heard = u2.waitFor(EventType.MESSAGE_CREATE, (msg) => msg.content === 'you can still read this');
    const said = await send(o, 'you can still read this');
    await heard;
    assert.equal((await u1.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId: general, limit: 1 }))[0]?.id, said.id);

    assert.equal((await m.request(Method.MEMBER_TIMEOUT, { guildId: gid, userId: ids.u, until: null })).timeoutUntil, null);
    assert.equal((await send(u1, 'thanks')).authorId, ids.u);
  });

  test('invites: CREATE_INSTANT_INVITE to create, MANAGE_GUILD to list, own or MANAGE_GUILD to revoke', async () => {
    const mine = await u1.request(Method.INVITE_CREATE, { guildId: gid, channelId: general });
    assert.deepEqual([mine.inviterId, mine.channelId, mine.uses, mine.maxUses, mine.expiresAt], [ids.u, general, 0, null, null]);
    await o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: general, targetId: gid, type: 'role', deny: bits('CREATE_INSTANT_INVITE') });
    await refused(u1.request(Method.INVITE_CREATE, { guildId: gid, channelId: general }), ErrorCode.MISSING_PERMISSIONS, ['CREATE_INSTANT_INVITE']);
    await o.request(Method.OVERWRITE_DELETE, { guildId: gid, channelId: general, targetId: gid });

    const listed = await m.request(Method.INVITE_LIST, { guildId: gid });
    assert.ok(listed.some((i) => i.code === mine.code && i.inviterId === ids.u));
    await refused(u1.request(Method.INVITE_LIST, { guildId: gid }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_GUILD']);

    const mine2 = await u1.request(Method.INVITE_CREATE, { guildId: gid });
    const owners = await o.request(Method.INVITE_CREATE, { guildId: gid });
    await refused(u1.request(Method.INVITE_REVOKE, { guildId: gid, code: owners.code }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_GUILD']);
    assert.equal(await u1.request(Method.INVITE_REVOKE, { guildId: gid, code: mine.code }), null);
    assert.equal(await m.request(Method.INVITE_REVOKE, { guildId: gid, code: mine2.code, reason: 'leaked' }), null);
    await refused(x.request(Method.INVITE_JOIN, { code: mine2.code }), ErrorCode.UNKNOWN_INVITE);
    await refused(m.request(Method.INVITE_REVOKE, { guildId: gid, code: mine2.code }), ErrorCode.UNKNOWN_INVITE);
    const codes = (await m.request(Method.INVITE_LIST, { guildId: gid })).map((i) => i.code);
    assert.ok(codes.includes(owners.code) && !codes.includes(mine.code) && !codes.includes(mine2.code));

    // Max uses: one join, then the code is used up (even for the same user after leaving).
    const once = await o.request(Method.INVITE_CREATE, { guildId: gid, maxUses: 1 });
    assert.equal((await x.request(Method.INVITE_JOIN, { code: once.code })).id, gid);
    assert.equal((await m.request(Method.INVITE_LIST, { guildId: gid })).find((i) => i.code === once.code)?.uses, 1);
    await x.request(Method.GUILD_LEAVE, { guildId: gid });
    await refused(x.request(Method.INVITE_JOIN, { code: once.code }), ErrorCode.INVITE_EXPIRED);
  });

  test('expiry: an invite past maxAgeSec and a timeout past its end lapse on their own', async () => {
    const brief = await o.request(Method.INVITE_CREATE, { guildId: gid, maxAgeSec: 1 });
    assert.equal(brief.expiresAt, brief.createdAt + 1000);
    const until = Date.now() + 1000;
    await m.request(Method.MEMBER_TIMEOUT, { guildId: gid, userId: ids.u, until });
    await refused(send(u1, 'muted'), ErrorCode.MISSING_PERMISSIONS, ['SEND_MESSAGES']);
    await new Promise((r) => setTimeout(r, Math.max(brief.expiresAt!, until) - Date.now() + 150));
    await refused(x.request(Method.INVITE_JOIN, { code: brief.code }), ErrorCode.INVITE_EXPIRED);
    assert.equal((await send(u1, 'free again')).authorId, ids.u);
  });

  test('audit.list: VIEW_AUDIT_LOG; entries with actor, target, changes and reason, filtered by user and action, with cursors', async () => {
    await refused(u1.request(Method.AUDIT_LIST, { guildId: gid }), ErrorCode.MISSING_PERMISSIONS, ['VIEW_AUDIT_LOG']);
    const victim = await send(u1, 'delete me');
    await m.request(Method.MESSAGE_DELETE, { guildId: gid, channelId: general, messageId: victim.id, reason: 'off topic' });
    const own = await send(u1, 'my own');
    await u1.request(Method.MESSAGE_DELETE, { guildId: gid, channelId: general, messageId: own.id }); // not administrative
    await m.request(Method.MEMBER_NICKNAME, { guildId: gid, userId: ids.u, nickname: 'renamed', reason: 'rules' });
    await u1.request(Method.MEMBER_NICKNAME, { guildId: gid, userId: ids.u, nickname: 'mine' }); // not administrative
    await refused(o.request(Method.GUILD_UPDATE, { guildId: gid, name: 'Too wordy', reason: 'r'.repeat(513) }), ErrorCode.INVALID_PAYLOAD);
    await o.request(Method.GUILD_UPDATE, { guildId: gid, description: 'long reason', reason: 'r'.repeat(512) });
    await o.request(Method.GUILD_UPDATE, { guildId: gid, name: 'Moderated', reason: 'spring cleaning' });

    const all = await m.request(Method.AUDIT_LIST, { guildId: gid, limit: 100 });
    const sorted = [...all].sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
    assert.deepEqual(all.map((e) => e.id), sorted.map((e) => e.id), 'newest first');
    assert.ok(all.every((e) => e.guildId === gid));
    for (const limit of [0, 101]) await refused(m.request(Method.AUDIT_LIST, { guildId: gid, limit }), ErrorCode.INVALID_PAYLOAD);
    assert.equal(all[1]?.reason, 'r'.repeat(512));
    const newest = all[0]!;
    assert.deepEqual([newest.action, newest.actorId, newest.reason], [AuditAction.GUILD_UPDATE, ids.o, 'spring cleaning']);
    assert.deepEqual(newest.changes, [{ key: 'name', old: 'Moderation', new: 'Moderated' }]);
    const actions = new Set(all.map((e) => e.action));
    for (const a of [AuditAction.ROLE_CREATE, AuditAction.MEMBER_ROLE_UPDATE, AuditAction.MEMBER_KICK, AuditAction.MEMBER_BAN_ADD, AuditAction.MEMBER_BAN_REMOVE,
      AuditAction.MEMBER_UPDATE, AuditAction.INVITE_CREATE, AuditAction.INVITE_DELETE, AuditAction.OVERWRITE_CREATE, AuditAction.OVERWRITE_DELETE, AuditAction.MESSAGE_DELETE]) {
      assert.ok(actions.has(a), `missing audit action ${a}`);
    }

    const kicks = await m.request(Method.AUDIT_LIST, { guildId: gid, action: AuditAction.MEMBER_KICK });
    assert.deepEqual(kicks.map((e) => [e.actorId, e.targetId, e.reason]), [[ids.m, ids.u, 'be nice']]);
    const bans = await m.request(Method.AUDIT_LIST, { guildId: gid, action: AuditAction.MEMBER_BAN_ADD });
    assert.deepEqual(bans.map((e) => [e.targetId, e.reason]), [[ids.x, null], [ids.u, 'spam']]);
    const deletes = await m.request(Method.AUDIT_LIST, { guildId: gid, action: AuditAction.MESSAGE_DELETE });
    assert.deepEqual(deletes.map((e) => [e.actorId, e.targetId, e.reason]), [[ids.m, ids.u, 'off topic']], 'only the moderator\'s delete');
    const memberUpdates = await m.request(Method.AUDIT_LIST, { guildId: gid, action: AuditAction.MEMBER_UPDATE, userId: ids.m });
    assert.deepEqual(memberUpdates[0]?.changes, [{ key: 'nick', old: null, new: 'renamed' }]);
    assert.ok(memberUpdates.some((e) => e.reason === 'cool down' && e.changes[0]?.key === 'timeout_until'));
    const ownActions = all.filter((e) => e.actorId === ids.u && (e.action === AuditAction.MEMBER_UPDATE || e.action === AuditAction.MESSAGE_DELETE));
    assert.deepEqual(ownActions, [], 'a member editing their own nickname or deleting their own message is not audited');
    const revoked = await m.request(Method.AUDIT_LIST, { guildId: gid, action: AuditAction.INVITE_DELETE, userId: ids.m });
    assert.deepEqual(revoked.map((e) => e.reason), ['leaked']);

    const byMod = await m.request(Method.AUDIT_LIST, { guildId: gid, userId: ids.m });
    assert.deepEqual(byMod.map((e) => e.id), all.filter((e) => e.actorId === ids.m).map((e) => e.id));
    assert.ok(byMod.length >= 8);

    const k = Math.floor(all.length / 2);
    const pivot = all[k]!.id;
    assert.deepEqual((await m.request(Method.AUDIT_LIST, { guildId: gid, before: pivot, limit: 100 })).map((e) => e.id), all.slice(k + 1).map((e) => e.id));
    assert.deepEqual((await m.request(Method.AUDIT_LIST, { guildId: gid, after: pivot, limit: 100 })).map((e) => e.id), all.slice(0, k).map((e) => e.id));
    assert.deepEqual((await m.request(Method.AUDIT_LIST, { guildId: gid, after: pivot, limit: 2 })).map((e) => e.id), all.slice(k - 2, k).map((e) => e.id));
    assert.deepEqual((await m.request(Method.AUDIT_LIST, { guildId: gid, before: pivot, limit: 3 })).map((e) => e.id), all.slice(k + 1, k + 4).map((e) => e.id));
    assert.deepEqual((await m.request(Method.AUDIT_LIST, { guildId: gid, limit: 1 })).map((e) => e.id), [newest.id]);
    const modBefore = await m.request(Method.AUDIT_LIST, { guildId: gid, userId: ids.m, before: byMod[1]!.id });
    assert.deepEqual(modBefore.map((e) => e.id), byMod.slice(2).map((e) => e.id));
  });
});
