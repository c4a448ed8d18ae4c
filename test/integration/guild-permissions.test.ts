/**
 * Every permission-gated guild command over real sockets (Postgres + Redis): one allowed and one
 * refused case each, with the documented error code, plus the role hierarchy. Cast: the owner, a
 * moderator (role "mod", without ADMINISTRATOR), a plain member and an outsider.
 * Kicks, bans, timeouts, invites and the audit log are in guild-moderation.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChannelType, ErrorCode, EventType, Method } from '../../protocol/opcodes.ts';
import { DEFAULT_EVERYONE_PERMISSIONS, Permission as P, type PermissionName } from '../../protocol/permissions.ts';
import { GuildhallError, type GuildhallClient } from '../../protocol/client/index.ts';
import type { Guild, Role } from '../../protocol/types.ts';
import { signUp, startTestServer, type TestServer } from '../support/test-server.ts';

const bits = (...names: PermissionName[]) => String(names.reduce((a, n) => a | P[n], 0n));
const MOD_PERMS: PermissionName[] = [
  'MANAGE_GUILD', 'MANAGE_CHANNELS', 'MANAGE_ROLES', 'MANAGE_NICKNAMES', 'MANAGE_MESSAGES', 'KICK_MEMBERS', 'BAN_MEMBERS', 'VIEW_AUDIT_LOG',
];

/** Asserts that `p` fails with `code` (and, for MISSING_PERMISSIONS, exactly `missing` in details). */
async function refused(p: Promise<unknown>, code: number, missing?: PermissionName[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof GuildhallError, `expected a GuildhallError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (missing) assert.deepEqual((e.details as { missing?: string[] } | null)?.missing, missing);
    return true;
  });
}

describe('guild permissions (services)', () => {
  let server: TestServer;
  let o: GuildhallClient; // owner
  let m: GuildhallClient; // moderator
  let u: GuildhallClient; // member
  let x: GuildhallClient; // outsider
  let ids: { o: string; m: string; u: string; x: string };
  let guild: Guild;
  let gid: string;
  let general: string;
  const roles = {} as Record<'high' | 'mod' | 'low', Role>;

  before(async () => {
    server = await startTestServer('services');
    const users = await Promise.all([signUp(server, 'owner'), signUp(server, 'mod'), signUp(server, 'member'), signUp(server, 'outsider')]);
    [o, m, u, x] = await Promise.all([users[0].connect(), users[1].connect(), users[2].connect(), users[3].connect()]);
    ids = { o: users[0].user.id, m: users[1].user.id, u: users[2].user.id, x: users[3].user.id };
    guild = await o.request(Method.GUILD_CREATE, { name: 'Permissions' });
    gid = guild.id;
    general = guild.channels[0]!.id;
    const invite = await o.request(Method.INVITE_CREATE, { guildId: gid });
    await m.request(Method.INVITE_JOIN, { code: invite.code });
    await u.request(Method.INVITE_JOIN, { code: invite.code });
    // New roles start at the bottom, so creating high, mod, low stacks them high > mod > low.
    roles.high = await o.request(Method.ROLE_CREATE, { guildId: gid, name: 'high', permissions: bits('KICK_MEMBERS') });
    roles.mod = await o.request(Method.ROLE_CREATE, { guildId: gid, name: 'mod', permissions: bits(...MOD_PERMS) });
    roles.low = await o.request(Method.ROLE_CREATE, { guildId: gid, name: 'low' });
    await o.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.m, roleId: roles.mod.id });
  });

  after(async () => {
    await Promise.all([o, m, u, x].map((c) => c?.close()));
    await server?.dispose();
  });

  test('roles stack in creation order (high > mod > low > @everyone) and the mod holds "mod"', async () => {
    const list = await o.request(Method.ROLE_REORDER, { guildId: gid, positions: [{ id: roles.low.id, position: 1 }] });
    const pos = Object.fromEntries(list.map((r) => [r.name, r.position]));
    assert.deepEqual(pos, { '@everyone': 0, low: 1, mod: 2, high: 3 });
    const members = await u.request(Method.MEMBER_LIST, { guildId: gid });
    assert.deepEqual(members.find((mb) => mb.user.id === ids.m)?.roles, [roles.mod.id]);
  });

  test('guild.update: MANAGE_GUILD edits the guild and members see GUILD_UPDATE; others are refused', async () => {
    const seen = u.waitFor(EventType.GUILD_UPDATE, (g) => g.id === gid && g.name === 'Renamed');
    const updated = await m.request(Method.GUILD_UPDATE, { guildId: gid, name: 'Renamed', description: 'a test guild' });
    assert.equal(updated.name, 'Renamed');
    assert.equal((await seen).description, 'a test guild');
    await refused(u.request(Method.GUILD_UPDATE, { guildId: gid, name: 'Mine now' }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_GUILD']);
    await refused(x.request(Method.GUILD_UPDATE, { guildId: gid, name: 'Mine now' }), ErrorCode.NOT_MEMBER);
    await refused(m.request(Method.GUILD_UPDATE, { guildId: gid, systemChannelId: '123456789' }), ErrorCode.UNKNOWN_CHANNEL);
  });

  test('guild.transfer and guild.delete belong to the owner alone', async () => {
    const g2 = await o.request(Method.GUILD_CREATE, { name: 'Disposable' });
    const inv = await o.request(Method.INVITE_CREATE, { guildId: g2.id });
    await u.request(Method.INVITE_JOIN, { code: inv.code });
    await m.request(Method.INVITE_JOIN, { code: inv.code });
    await o.request(Method.ROLE_UPDATE, { guildId: g2.id, roleId: g2.id, permissions: bits('VIEW_CHANNEL', 'ADMINISTRATOR') });
    // Even ADMINISTRATOR cannot transfer or delete.
    await refused(m.request(Method.GUILD_TRANSFER, { guildId: g2.id, userId: ids.m }), ErrorCode.FORBIDDEN);
    await refused(m.request(Method.GUILD_DELETE, { guildId: g2.id }), ErrorCode.FORBIDDEN);
    await refused(o.request(Method.GUILD_TRANSFER, { guildId: g2.id, userId: ids.x }), ErrorCode.UNKNOWN_MEMBER);

    // A channel only the owner sees: ownership moves, and sight of it with it.
    await o.request(Method.ROLE_UPDATE, { guildId: g2.id, roleId: g2.id, permissions: bits('VIEW_CHANNEL') });
    const vault = await o.request(Method.CHANNEL_CREATE, { guildId: g2.id, name: 'vault' });
    await o.request(Method.OVERWRITE_SET, { guildId: g2.id, channelId: vault.id, targetId: g2.id, type: 'role', deny: bits('VIEW_CHANNEL') });
    const seen = u.waitFor(EventType.GUILD_UPDATE, (g) => g.id === g2.id && g.ownerId === ids.u);
    const uGains = u.waitFor(EventType.CHANNEL_CREATE, (c) => c.id === vault.id);
    const oLoses = o.waitFor(EventType.CHANNEL_DELETE, (c) => c.id === vault.id);
    const transferred = await o.request(Method.GUILD_TRANSFER, { guildId: g2.id, userId: ids.u });
    assert.equal(transferred.ownerId, ids.u);
    await Promise.all([seen, uGains, oLoses]);
    await refused(o.request(Method.MESSAGE_HISTORY, { guildId: g2.id, channelId: vault.id }), ErrorCode.UNKNOWN_CHANNEL);
    await refused(o.request(Method.GUILD_DELETE, { guildId: g2.id }), ErrorCode.FORBIDDEN);
    await refused(u.request(Method.GUILD_LEAVE, { guildId: g2.id }), ErrorCode.FORBIDDEN);

    const gone = [o, m].map((c) => c.waitFor(EventType.GUILD_DELETE, (g) => g.id === g2.id));
    assert.equal(await u.request(Method.GUILD_DELETE, { guildId: g2.id }), null);
    await Promise.all(gone);
    await refused(o.request(Method.MESSAGE_HISTORY, { guildId: g2.id, channelId: g2.channels[0]!.id }), ErrorCode.UNKNOWN_GUILD);
  });

  test('channel.create: MANAGE_CHANNELS creates channels and categories; members see one CHANNEL_CREATE', async () => {
    const created: string[] = [];
    const off = u.on(EventType.CHANNEL_CREATE, (c) => created.push(c.id));
    const category = await m.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'staff-area', type: ChannelType.CATEGORY });
    const child = await m.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'mod-made', parentId: category.id, topic: 't' });
    assert.equal(child.parentId, category.id);
    assert.equal(child.topic, 't');
    await syncWith(u);
    off();
    assert.deepEqual(created, [category.id, child.id], 'each new channel announced exactly once');
    await refused(u.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'nope' }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_CHANNELS']);
    await refused(m.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'bad-parent', parentId: general }), ErrorCode.UNKNOWN_CHANNEL);
  });

  test('channel.update is checked in the channel: an overwrite can take MANAGE_CHANNELS away there', async () => {
    const c = await o.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'editable' });
    const seen = u.waitFor(EventType.CHANNEL_UPDATE, (ch) => ch.id === c.id && ch.topic === 'new topic');
    const updated = await m.request(Method.CHANNEL_UPDATE, { guildId: gid, channelId: c.id, name: 'edited', topic: 'new topic' });
    assert.equal(updated.name, 'edited');
    await seen;
    await refused(u.request(Method.CHANNEL_UPDATE, { guildId: gid, channelId: c.id, topic: 'x' }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_CHANNELS']);
    await o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: c.id, targetId: roles.mod.id, type: 'role', deny: bits('MANAGE_CHANNELS') });
    await refused(m.request(Method.CHANNEL_UPDATE, { guildId: gid, channelId: c.id, topic: 'x' }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_CHANNELS']);
    await refused(m.request(Method.CHANNEL_DELETE, { guildId: gid, channelId: c.id }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_CHANNELS']);
    await refused(m.request(Method.CHANNEL_UPDATE, { guildId: gid, channelId: '123456789', topic: 'x' }), ErrorCode.UNKNOWN_CHANNEL);
  });

  test('channel.reorder and channel.delete need MANAGE_CHANNELS; viewers see CHANNEL_DELETE', async () => {
    const a = await o.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'order-a' });
    const b = await o.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'order-b' });
    const order = await m.request(Method.CHANNEL_REORDER, { guildId: gid, positions: [{ id: a.id, position: 90 }, { id: b.id, position: 80 }] });
    const names = order.map((c) => c.name);
    assert.ok(names.indexOf('order-b') < names.indexOf('order-a'), names.join());
    await refused(u.request(Method.CHANNEL_REORDER, { guildId: gid, positions: [{ id: a.id, position: 1 }] }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_CHANNELS']);

    await refused(u.request(Method.CHANNEL_DELETE, { guildId: gid, channelId: a.id }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_CHANNELS']);
    const seen = u.waitFor(EventType.CHANNEL_DELETE, (c) => c.id === a.id);
    assert.equal(await m.request(Method.CHANNEL_DELETE, { guildId: gid, channelId: a.id }), null);
    assert.equal((await seen).guildId, gid);
    await refused(u.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId: a.id }), ErrorCode.UNKNOWN_CHANNEL);
    await refused(m.request(Method.CHANNEL_DELETE, { guildId: gid, channelId: a.id }), ErrorCode.UNKNOWN_CHANNEL);

    // Deleting a category orphans its children, deleting the system channel clears it: viewers are told.
    const cat = await m.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'doomed-category', type: ChannelType.CATEGORY });
    const kid = await m.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'orphan', parentId: cat.id });
    await o.request(Method.GUILD_UPDATE, { guildId: gid, systemChannelId: b.id });
    const orphaned = u.waitFor(EventType.CHANNEL_UPDATE, (c) => c.id === kid.id && c.parentId === null);
    await m.request(Method.CHANNEL_DELETE, { guildId: gid, channelId: cat.id });
    await orphaned;
    const cleared = u.waitFor(EventType.GUILD_UPDATE, (g) => g.id === gid && g.systemChannelId === null);
    await m.request(Method.CHANNEL_DELETE, { guildId: gid, channelId: b.id });
    await cleared;
    await o.request(Method.GUILD_UPDATE, { guildId: gid, systemChannelId: general });
  });

  test('overwrite.set/delete need MANAGE_ROLES in the channel and can only grant or deny what the actor holds', async () => {
    const c = await o.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'overwritten' });
    const seen = u.waitFor(EventType.CHANNEL_UPDATE, (ch) => ch.id === c.id && ch.overwrites.length === 1);
    const set = await m.request(Method.OVERWRITE_SET, { guildId: gid, channelId: c.id, targetId: roles.low.id, type: 'role', allow: bits('MANAGE_MESSAGES'), deny: bits('ADD_REACTIONS') });
    assert.deepEqual(set.overwrites, [{ id: roles.low.id, type: 'role', allow: bits('MANAGE_MESSAGES'), deny: bits('ADD_REACTIONS') }]);
    assert.deepEqual((await seen).overwrites, set.overwrites);
    // The mod lacks PIN_MESSAGES and ADMINISTRATOR: it may neither allow nor deny them.
    await refused(m.request(Method.OVERWRITE_SET, { guildId: gid, channelId: c.id, targetId: ids.u, type: 'member', allow: bits('PIN_MESSAGES') }), ErrorCode.MISSING_PERMISSIONS);
    await refused(m.request(Method.OVERWRITE_SET, { guildId: gid, channelId: c.id, targetId: ids.u, type: 'member', deny: bits('ADMINISTRATOR') }), ErrorCode.MISSING_PERMISSIONS);
    await refused(u.request(Method.OVERWRITE_SET, { guildId: gid, channelId: c.id, targetId: ids.u, type: 'member', allow: bits('SEND_MESSAGES') }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_ROLES']);
    await refused(m.request(Method.OVERWRITE_SET, { guildId: gid, channelId: c.id, targetId: '123456789', type: 'role' }), ErrorCode.UNKNOWN_ROLE);
    await refused(m.request(Method.OVERWRITE_SET, { guildId: gid, channelId: c.id, targetId: ids.x, type: 'member' }), ErrorCode.UNKNOWN_MEMBER);
    await refused(m.request(Method.OVERWRITE_SET, { guildId: gid, channelId: c.id, targetId: ids.u, type: 'member', allow: bits('SEND_MESSAGES'), deny: bits('SEND_MESSAGES') }), ErrorCode.INVALID_PAYLOAD);
    await refused(m.request(Method.OVERWRITE_SET, { guildId: gid, channelId: c.id, targetId: ids.u, type: 'member', allow: String(1n << 8n) }), ErrorCode.INVALID_PAYLOAD);

    await refused(u.request(Method.OVERWRITE_DELETE, { guildId: gid, channelId: c.id, targetId: roles.low.id }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_ROLES']);
    const cleared = await m.request(Method.OVERWRITE_DELETE, { guildId: gid, channelId: c.id, targetId: roles.low.id });
    assert.deepEqual(cleared.overwrites, []);
    // An overwrite holding a bit the mod lacks cannot be removed by the mod either.
    await o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: c.id, targetId: ids.u, type: 'member', allow: bits('PIN_MESSAGES') });
    await refused(m.request(Method.OVERWRITE_DELETE, { guildId: gid, channelId: c.id, targetId: ids.u }), ErrorCode.MISSING_PERMISSIONS);
  });

  test('role.create needs MANAGE_ROLES and cannot grant permissions the creator lacks', async () => {
    const seen = u.waitFor(EventType.GUILD_ROLE_CREATE, (r) => r.name === 'helpers');
    const helpers = await m.request(Method.ROLE_CREATE, { guildId: gid, name: 'helpers', permissions: bits('KICK_MEMBERS', 'VIEW_CHANNEL'), color: 0x00ff00 });
    assert.equal(helpers.permissions, bits('KICK_MEMBERS', 'VIEW_CHANNEL'));
    assert.equal(helpers.position, 1);
    assert.equal((await seen).id, helpers.id);
    await refused(m.request(Method.ROLE_CREATE, { guildId: gid, name: 'sneaky', permissions: bits('ADMINISTRATOR') }), ErrorCode.MISSING_PERMISSIONS);
    await refused(m.request(Method.ROLE_CREATE, { guildId: gid, name: 'sneaky', permissions: bits('KICK_MEMBERS', 'MODERATE_MEMBERS') }), ErrorCode.MISSING_PERMISSIONS);
    await refused(u.request(Method.ROLE_CREATE, { guildId: gid, name: 'mine' }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_ROLES']);
    // Undefined bits and non-canonical numbers are the caller's error, even for the owner.
    for (const bad of [String(1n << 9n), '01024', '-1', String(1n << 64n)]) {
      await refused(o.request(Method.ROLE_CREATE, { guildId: gid, name: 'bad', permissions: bad }), ErrorCode.INVALID_PAYLOAD);
      await refused(o.request(Method.ROLE_UPDATE, { guildId: gid, roleId: helpers.id, permissions: bad }), ErrorCode.INVALID_PAYLOAD);
    }
    await m.request(Method.ROLE_DELETE, { guildId: gid, roleId: helpers.id });
  });

  test('role.update and role.delete only reach roles below the actor; @everyone keeps its name and existence', async () => {
    const seen = u.waitFor(EventType.GUILD_ROLE_UPDATE, (r) => r.id === roles.low.id && r.color === 0xff0000);
    const low = await m.request(Method.ROLE_UPDATE, { guildId: gid, roleId: roles.low.id, color: 0xff0000, mentionable: true, permissions: bits('MANAGE_MESSAGES') });
    assert.equal(low.permissions, bits('MANAGE_MESSAGES'));
    assert.equal((await seen).mentionable, true);
    await refused(m.request(Method.ROLE_UPDATE, { guildId: gid, roleId: roles.low.id, permissions: bits('PIN_MESSAGES') }), ErrorCode.MISSING_PERMISSIONS);
    await refused(m.request(Method.ROLE_UPDATE, { guildId: gid, roleId: roles.mod.id, color: 1 }), ErrorCode.HIERARCHY);
    await refused(m.request(Method.ROLE_UPDATE, { guildId: gid, roleId: roles.high.id, color: 1 }), ErrorCode.HIERARCHY);
    await refused(u.request(Method.ROLE_UPDATE, { guildId: gid, roleId: roles.low.id, color: 1 }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_ROLES']);
    await refused(o.request(Method.ROLE_UPDATE, { guildId: gid, roleId: gid, name: 'everybody' }), ErrorCode.FORBIDDEN);
    await refused(m.request(Method.ROLE_UPDATE, { guildId: gid, roleId: '123456789', color: 1 }), ErrorCode.UNKNOWN_ROLE);

    const doomed = await o.request(Method.ROLE_CREATE, { guildId: gid, name: 'doomed' });
    await refused(u.request(Method.ROLE_DELETE, { guildId: gid, roleId: doomed.id }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_ROLES']);
    await refused(m.request(Method.ROLE_DELETE, { guildId: gid, roleId: roles.high.id }), ErrorCode.HIERARCHY);
    await refused(m.request(Method.ROLE_DELETE, { guildId: gid, roleId: roles.mod.id }), ErrorCode.HIERARCHY);
    await refused(o.request(Method.ROLE_DELETE, { guildId: gid, roleId: gid }), ErrorCode.FORBIDDEN);
    const deleted = u.waitFor(EventType.GUILD_ROLE_DELETE, (r) => r.id === doomed.id);
    assert.equal(await m.request(Method.ROLE_DELETE, { guildId: gid, roleId: doomed.id }), null);
    await deleted;
    await refused(m.request(Method.ROLE_DELETE, { guildId: gid, roleId: doomed.id }), ErrorCode.UNKNOWN_ROLE);
  });

  test('role.reorder moves roles only below the actor\'s highest role', async () => {
    const extra = await o.request(Method.ROLE_CREATE, { guildId: gid, name: 'extra' });
    const pos = (list: Role[], id: string) => list.find((r) => r.id === id)!.position;
    const before = await o.request(Method.ROLE_REORDER, { guildId: gid, positions: [{ id: extra.id, position: 1 }] });
    const [lowPos, extraPos] = [pos(before, roles.low.id), pos(before, extra.id)];
    const swapped = await m.request(Method.ROLE_REORDER, { guildId: gid, positions: [{ id: roles.low.id, position: extraPos }, { id: extra.id, position: lowPos }] });
    assert.deepEqual([pos(swapped, roles.low.id), pos(swapped, extra.id)], [extraPos, lowPos]);
    await refused(m.request(Method.ROLE_REORDER, { guildId: gid, positions: [{ id: roles.low.id, position: pos(before, roles.mod.id) }] }), ErrorCode.HIERARCHY);
    await refused(m.request(Method.ROLE_REORDER, { guildId: gid, positions: [{ id: roles.high.id, position: 1 }] }), ErrorCode.HIERARCHY);
    await refused(u.request(Method.ROLE_REORDER, { guildId: gid, positions: [{ id: extra.id, position: 1 }] }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_ROLES']);
    await o.request(Method.ROLE_DELETE, { guildId: gid, roleId: extra.id });
  });

  test('member.role.add/remove need MANAGE_ROLES and a role below the actor\'s highest', async () => {
    const seen = o.waitFor(EventType.GUILD_MEMBER_UPDATE, (mb) => mb.user.id === ids.u && mb.roles.includes(roles.low.id));
    const added = await m.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: roles.low.id, reason: 'helpful' });
    assert.deepEqual(added.roles, [roles.low.id]);
    await seen;
    await refused(m.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: roles.mod.id }), ErrorCode.HIERARCHY);
    await refused(m.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.m, roleId: roles.high.id }), ErrorCode.HIERARCHY);
    await refused(u.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: roles.low.id }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_ROLES']);
    await refused(m.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: gid }), ErrorCode.FORBIDDEN);
    await refused(m.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: '123456789' }), ErrorCode.UNKNOWN_ROLE);
    await refused(m.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.x, roleId: roles.low.id }), ErrorCode.UNKNOWN_MEMBER);

    await refused(u.request(Method.MEMBER_ROLE_REMOVE, { guildId: gid, userId: ids.u, roleId: roles.low.id }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_ROLES']);
    await refused(m.request(Method.MEMBER_ROLE_REMOVE, { guildId: gid, userId: ids.m, roleId: roles.mod.id }), ErrorCode.HIERARCHY);
    const removed = await m.request(Method.MEMBER_ROLE_REMOVE, { guildId: gid, userId: ids.u, roleId: roles.low.id });
    assert.deepEqual(removed.roles, []);
  });

  test('member.nickname: own with CHANGE_NICKNAME, others\' with MANAGE_NICKNAMES and only below the actor', async () => {
    assert.equal((await u.request(Method.MEMBER_NICKNAME, { guildId: gid, userId: ids.u, nickname: 'me myself' })).nickname, 'me myself');
    await refused(u.request(Method.MEMBER_NICKNAME, { guildId: gid, userId: ids.m, nickname: 'boss' }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_NICKNAMES']);
    const seen = u.waitFor(EventType.GUILD_MEMBER_UPDATE, (mb) => mb.user.id === ids.u && mb.nickname === 'renamed');
    assert.equal((await m.request(Method.MEMBER_NICKNAME, { guildId: gid, userId: ids.u, nickname: 'renamed' })).nickname, 'renamed');
    await seen;
    await refused(m.request(Method.MEMBER_NICKNAME, { guildId: gid, userId: ids.o, nickname: 'owner' }), ErrorCode.HIERARCHY);
    await o.request(Method.MEMBER_ROLE_ADD, { guildId: gid, userId: ids.u, roleId: roles.mod.id });
    await refused(m.request(Method.MEMBER_NICKNAME, { guildId: gid, userId: ids.u, nickname: 'peer' }), ErrorCode.HIERARCHY);
    await o.request(Method.MEMBER_ROLE_REMOVE, { guildId: gid, userId: ids.u, roleId: roles.mod.id });

    const noNick = DEFAULT_EVERYONE_PERMISSIONS & ~P.CHANGE_NICKNAME;
    await o.request(Method.ROLE_UPDATE, { guildId: gid, roleId: gid, permissions: String(noNick) });
    try {
      await refused(u.request(Method.MEMBER_NICKNAME, { guildId: gid, userId: ids.u, nickname: 'again' }), ErrorCode.MISSING_PERMISSIONS, ['CHANGE_NICKNAME']);
    } finally {
      await o.request(Method.ROLE_UPDATE, { guildId: gid, roleId: gid, permissions: String(DEFAULT_EVERYONE_PERMISSIONS) });
    }
    assert.equal((await u.request(Method.MEMBER_NICKNAME, { guildId: gid, userId: ids.u, nickname: null })).nickname, null);
  });

  test('message.send and message.history: SEND_MESSAGES and READ_MESSAGE_HISTORY per channel', async () => {
    const ro = await o.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'read-only' });
    await o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: ro.id, targetId: gid, type: 'role', deny: bits('SEND_MESSAGES') });
    const announcement = await o.request(Method.MESSAGE_SEND, { guildId: gid, channelId: ro.id, content: 'rules' });
    await refused(u.request(Method.MESSAGE_SEND, { guildId: gid, channelId: ro.id, content: 'hi' }), ErrorCode.MISSING_PERMISSIONS, ['SEND_MESSAGES']);
    assert.deepEqual((await u.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId: ro.id })).map((msg) => msg.id), [announcement.id]);

    const wo = await o.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'write-only' });
    await o.request(Method.OVERWRITE_SET, { guildId: gid, channelId: wo.id, targetId: gid, type: 'role', deny: bits('READ_MESSAGE_HISTORY') });
    const sent = await u.request(Method.MESSAGE_SEND, { guildId: gid, channelId: wo.id, content: 'into the void' });
    assert.equal(sent.authorId, ids.u);
    await refused(u.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId: wo.id }), ErrorCode.MISSING_PERMISSIONS, ['READ_MESSAGE_HISTORY']);

    const category = await o.request(Method.CHANNEL_CREATE, { guildId: gid, name: 'a-category', type: ChannelType.CATEGORY });
    await refused(u.request(Method.MESSAGE_SEND, { guildId: gid, channelId: category.id, content: 'hi' }), ErrorCode.UNKNOWN_CHANNEL);
    await refused(u.request(Method.MESSAGE_SEND, { guildId: gid, channelId: '123456789', content: 'hi' }), ErrorCode.UNKNOWN_CHANNEL);
  });

  test('message.delete: one\'s own message always, anyone else\'s only with MANAGE_MESSAGES', async () => {
    const mine = await u.request(Method.MESSAGE_SEND, { guildId: gid, channelId: general, content: 'oops' });
    const theirs = await m.request(Method.MESSAGE_SEND, { guildId: gid, channelId: general, content: 'mod speaking' });
    const deletedSeen = m.waitFor(EventType.MESSAGE_DELETE, (d) => d.id === mine.id);
    assert.equal(await u.request(Method.MESSAGE_DELETE, { guildId: gid, channelId: general, messageId: mine.id }), null);
    assert.equal((await deletedSeen).channelId, general);
    await refused(u.request(Method.MESSAGE_DELETE, { guildId: gid, channelId: general, messageId: theirs.id }), ErrorCode.MISSING_PERMISSIONS, ['MANAGE_MESSAGES']);
    const byMod = await u.request(Method.MESSAGE_SEND, { guildId: gid, channelId: general, content: 'spam' });
    assert.equal(await m.request(Method.MESSAGE_DELETE, { guildId: gid, channelId: general, messageId: byMod.id, reason: 'spam' }), null);
    await refused(m.request(Method.MESSAGE_DELETE, { guildId: gid, channelId: general, messageId: byMod.id }), ErrorCode.UNKNOWN_MESSAGE);
    const history = await u.request(Method.MESSAGE_HISTORY, { guildId: gid, channelId: general });
    assert.ok(history.some((msg) => msg.id === theirs.id));
    assert.ok(!history.some((msg) => msg.id === mine.id || msg.id === byMod.id));
  });

  test('outsiders get NOT_MEMBER from every guild command; unknown guilds UNKNOWN_GUILD', async () => {
    const g = { guildId: gid };
    const calls: [string, unknown][] = [
      [Method.GUILD_UPDATE, { ...g, name: 'xx' }], [Method.GUILD_TRANSFER, { ...g, userId: ids.x }], [Method.GUILD_DELETE, g],
      [Method.GUILD_LEAVE, g], [Method.CHANNEL_CREATE, { ...g, name: 'x' }], [Method.CHANNEL_UPDATE, { ...g, channelId: general, name: 'x' }],
      [Method.CHANNEL_REORDER, { ...g, positions: [{ id: general, position: 1 }] }], [Method.CHANNEL_DELETE, { ...g, channelId: general }],
      [Method.OVERWRITE_SET, { ...g, channelId: general, targetId: ids.x, type: 'member' }], [Method.OVERWRITE_DELETE, { ...g, channelId: general, targetId: ids.x }],
      [Method.ROLE_CREATE, g], [Method.ROLE_UPDATE, { ...g, roleId: roles.low.id, color: 1 }], [Method.ROLE_REORDER, { ...g, positions: [{ id: roles.low.id, position: 1 }] }],
      [Method.ROLE_DELETE, { ...g, roleId: roles.low.id }], [Method.MEMBER_LIST, g], [Method.MEMBER_ROLE_ADD, { ...g, userId: ids.x, roleId: roles.low.id }],
      [Method.MEMBER_ROLE_REMOVE, { ...g, userId: ids.x, roleId: roles.low.id }], [Method.MEMBER_NICKNAME, { ...g, userId: ids.x, nickname: 'x' }],
      [Method.MEMBER_KICK, { ...g, userId: ids.u }], [Method.MEMBER_TIMEOUT, { ...g, userId: ids.u, until: null }], [Method.BAN_CREATE, { ...g, userId: ids.u }],
      [Method.BAN_REMOVE, { ...g, userId: ids.u }], [Method.BAN_LIST, g], [Method.INVITE_CREATE, g], [Method.INVITE_LIST, g],
      [Method.INVITE_REVOKE, { ...g, code: 'abcdefgh' }], [Method.AUDIT_LIST, g], [Method.MESSAGE_SEND, { ...g, channelId: general, content: 'x' }],
      [Method.MESSAGE_HISTORY, { ...g, channelId: general }], [Method.MESSAGE_DELETE, { ...g, channelId: general, messageId: '123456789' }],
    ];
    for (const [method, payload] of calls) await refused(x.request(method, payload), ErrorCode.NOT_MEMBER);
    await refused(x.request(Method.MESSAGE_HISTORY, { guildId: '123456789', channelId: general }), ErrorCode.UNKNOWN_GUILD);
    // Nothing changed: the outsider's attempts left the guild as it was.
    assert.equal((await o.request(Method.MEMBER_LIST, { guildId: gid })).length, 3);
  });

  /** Round trip through the guild: resolves once `c` received a message sent after everything before. */
  let sentinel = 0;
  async function syncWith(...clients: GuildhallClient[]): Promise<void> {
    const content = `sentinel ${++sentinel}`;
    const seen = clients.map((c) => c.waitFor(EventType.MESSAGE_CREATE, (msg) => msg.content === content));
    await o.request(Method.MESSAGE_SEND, { guildId: gid, channelId: general, content });
    await Promise.all(seen);
  }

});
