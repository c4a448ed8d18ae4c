/**
 * Storage conformance: the same suite runs against real Postgres and in-memory PGlite.
 * Run: node --import tsx --test test/integration/storage.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { SnowflakeGenerator } from '../../protocol/ids.ts';
import { checkDurability, createStores, openDatabase } from '../../storage/database.ts';
import { MessageWriter } from '../../storage/messages/message-writer.ts';
import { MIGRATIONS } from '../../storage/migrations/index.ts';
import type { AuditQuery, MessageStore, Stores } from '../../storage/ports.ts';
import {
  ConflictError, StorageUnavailableError, type AuditEntryRecord, type ChannelRecord, type GuildRecord, type InviteRecord,
  type MemberRecord, type MessageRecord, type RoleRecord, type UserRecord,
} from '../../storage/records.ts';
import type { DB } from '../../storage/schema.ts';
import { DIALECTS, type TestDatabase } from '../support/databases.ts';

const ids = new SnowflakeGenerator(7);
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0, 123);
let seq = 0;

async function newUser(stores: Stores, over: Partial<UserRecord> = {}): Promise<UserRecord> {
  const n = ++seq;
  return stores.users.create({
    id: ids.next(),
    email: `user${n}.${process.pid}@example.com`,
    nickname: `user${n}_${process.pid}`,
    passwordHash: 'argon2id$fake',
    createdAt: T0,
    ...over,
  });
}

function message(channelId: string, over: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id: ids.next(),
    type: 0,
    mentions: null,
    channelId,
    guildId: null,
    authorId: '1',
    content: 'hello',
    nonce: null,
    createdAt: T0,
    editedAt: null,
    replyToId: null,
    pinnedAt: null,
    ...over,
  };
}

function member(guildId: string, userId: string, joinedAt = T0, over: Partial<MemberRecord> = {}): MemberRecord {
  return { guildId, userId, joinedAt, nickname: null, timeoutUntil: null, roleIds: [], ...over };
}

function guildRecord(id: string, ownerId: string, over: Partial<GuildRecord> = {}): GuildRecord {
  return { id, name: 'G', ownerId, description: null, iconUrl: null, systemChannelId: null, createdAt: T0, ...over };
}

/** The @everyone role: its id is the guild's. */
function everyoneRole(guildId: string): RoleRecord {
  return {
    id: guildId, guildId, name: '@everyone', color: 0, permissions: '68608', position: 0, mentionable: false, hoist: false, createdAt: T0,
  };
}

function role(guildId: string, position: number, over: Partial<RoleRecord> = {}): RoleRecord {
  return {
    id: ids.next(), guildId, name: `role${position}`, color: 0x3498db, permissions: '0', position, mentionable: false, hoist: false,
    createdAt: T0 + position, ...over,
  };
}

function audit(guildId: string, actorId: string, action: number, over: Partial<AuditEntryRecord> = {}): AuditEntryRecord {
  return {
    id: ids.next(), guildId, actorId, action, targetId: actorId, changes: [{ key: 'k', new: action }], reason: null, createdAt: T0, ...over,
  };
}

function auditQuery(over: Partial<AuditQuery> = {}): AuditQuery {
  return { userId: null, action: null, before: null, after: null, limit: 100, ...over };
}

/** Every message of a channel, newest first, by paging history with the `before` cursor. */
async function allHistory(store: MessageStore, channelId: string): Promise<MessageRecord[]> {
  const out: MessageRecord[] = [];
  let before: string | null = null;
  for (;;) {
    const page = await store.history(channelId, { before, limit: 100 });
    out.push(...page);
    if (page.length < 100) return out;
    before = page[page.length - 1]!.id;
  }
}

async function assertConflict(promise: Promise<unknown>, field: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ConflictError, `expected ConflictError, got ${String(err)}`);
    assert.equal(err.field, field);
    return true;
  });
}

/** A MessageStore that records insertMany batch sizes and can fail chosen calls; the rest is delegated. */
function instrument(inner: MessageStore, failCall?: (call: number) => unknown): MessageStore & { batchSizes: number[] } {
  const batchSizes: number[] = [];
  return Object.assign(Object.create(inner) as MessageStore, {
    batchSizes,
    async insertMany(rows: readonly MessageRecord[]): Promise<boolean[]> {
      const call = batchSizes.push(rows.length);
      const failure = failCall?.(call);
      if (failure !== undefined) throw failure;
      return inner.insertMany(rows);
    },
  });
}

for (const dialect of DIALECTS) {
  describe(`storage on ${dialect.name}`, () => {
    let t: TestDatabase;
    let stores: Stores;

    before(async () => {
      t = await dialect.open();
      stores = t.stores;
      assert.equal(t.database.dialect, dialect.name);
    });
    after(async () => {
      await t?.dispose();
    });

    async function newGuild(ownerId: string, joinedAt = T0, channels: ChannelRecord[] = []): Promise<string> {
      const guildId = channels[0]?.guildId ?? ids.next();
      await stores.guilds.create(guildRecord(guildId, ownerId), everyoneRole(guildId), channels, member(guildId, ownerId, joinedAt));
      return guildId;
    }

    describe('users', () => {
      it('creates, finds by id and by email case-insensitively', async () => {
        const u = await newUser(stores, { email: 'Mixed.Case@Example.com', nickname: 'MixedCase' });
        assert.equal(u.createdAt, T0);
        assert.deepEqual(await stores.users.findById(u.id), u);
        assert.deepEqual(await stores.users.findByEmail('mixed.case@EXAMPLE.COM'), u);
        assert.equal(await stores.users.findByEmail('nobody@example.com'), null);
        assert.equal(await stores.users.findById(ids.next()), null);
      });

      it('refuses an email or nickname taken in another case, writing nothing', async () => {
        const u = await newUser(stores, { email: 'Taken@Example.com', nickname: 'TakenNick' });
        const emailDup = ids.next();
        await assertConflict(newUser(stores, { id: emailDup, email: 'taken@EXAMPLE.com' }), 'email');
        const nickDup = ids.next();
        await assertConflict(newUser(stores, { id: nickDup, nickname: 'TAKENNICK' }), 'nickname');
        const found = await stores.users.findManyByIds([u.id, emailDup, nickDup]);
        assert.deepEqual(found.map((r) => r.id), [u.id]);
      });

      it('defaults createdAt to now and finds many by ids', async () => {
        const before = Date.now();
        const a = await newUser(stores, { createdAt: undefined });
        assert.ok(a.createdAt >= before - 5 && a.createdAt <= Date.now() + 5);
        const b = await newUser(stores);
        const found = await stores.users.findManyByIds([a.id, b.id, a.id, ids.next()]);
        assert.deepEqual(found.map((r) => r.id).sort(), [a.id, b.id].sort());
        assert.deepEqual(await stores.users.findManyByIds([]), []);
      });
    });

    describe('guilds', () => {
      it('round-trips a guild with channels ordered by position and the owner as member', async () => {
        const owner = await newUser(stores);
        const guildId = ids.next();
        const category = ids.next();
        const general = ids.next();
        const random = ids.next();
        const ch = (id: string, name: string, position: number, type = 0, parentId: string | null = category): ChannelRecord => ({
          id, guildId, type, name, topic: name === 'general' ? 'Talk here' : null, parentId, position, createdAt: T0 + position,
        });
        // Inserted out of order, with children before their parent in the same batch.
        const channels = [ch(random, 'random', 2), ch(general, 'general', 1), ch(category, 'Text', 0, 4, null)];
        // The system channel is one of the channels created in the same call.
        const guild = guildRecord(guildId, owner.id, {
          name: 'Guild', description: 'About us', iconUrl: 'https://cdn.example.com/i.png', systemChannelId: general,
        });
        const ownerMember = member(guildId, owner.id, T0, { nickname: 'Boss', timeoutUntil: null });
        await stores.guilds.create(guild, everyoneRole(guildId), channels, ownerMember);
        const snap = await stores.guilds.load(guildId);
        assert.ok(snap);
        assert.deepEqual(snap.guild, guild);
        assert.deepEqual(snap.channels, [channels[2], channels[1], channels[0]]);
        assert.deepEqual(snap.members, [ownerMember]);
        assert.deepEqual(snap.roles, [everyoneRole(guildId)]);
        assert.deepEqual(snap.overwrites, []);

        const voiceless = ch(ids.next(), 'late', -1);
        await stores.guilds.createChannel(voiceless);
        const again = await stores.guilds.load(guildId);
        assert.deepEqual(again?.channels.map((c) => c.name), ['late', 'Text', 'general', 'random']);
        await assertConflict(stores.guilds.createChannel(voiceless), 'channel');

        assert.equal(await stores.guilds.load(ids.next()), null);
      });

      it('creates atomically: a failing channel leaves no guild behind', async () => {
        const owner = await newUser(stores);
        const guildId = ids.next();
        const dup = ids.next();
        const ch = (name: string): ChannelRecord => ({
          id: dup, guildId, type: 0, name, topic: null, parentId: null, position: 0, createdAt: T0,
        });
        await assertConflict(
          stores.guilds.create(guildRecord(guildId, owner.id), everyoneRole(guildId), [ch('a'), ch('b')], member(guildId, owner.id)),
          'channel',
        );
        assert.equal(await stores.guilds.load(guildId), null);
        assert.deepEqual(await stores.guilds.listGuildIdsOfUser(owner.id), []);
        // Nothing of the failed call remains: the same ids can be used again.
        await stores.guilds.create(guildRecord(guildId, owner.id), everyoneRole(guildId), [ch('a')], member(guildId, owner.id));
        assert.deepEqual((await stores.guilds.load(guildId))?.roles.map((r) => r.id), [guildId]);
      });

      it('refuses an existing role id, a system channel that does not exist, and a duplicate guild', async () => {
        const owner = await newUser(stores);
        const guildId = await newGuild(owner.id);
        const other = ids.next();
        // @everyone of another guild cannot reuse an existing role id.
        await assertConflict(
          stores.guilds.create(guildRecord(other, owner.id), { ...everyoneRole(other), id: guildId }, [], member(other, owner.id)),
          'role',
        );
        await assert.rejects(
          stores.guilds.create(guildRecord(other, owner.id, { systemChannelId: ids.next() }), everyoneRole(other), [], member(other, owner.id)),
        );
        assert.equal(await stores.guilds.load(other), null);
        await assertConflict(stores.guilds.create(guildRecord(guildId, owner.id), everyoneRole(guildId), [], member(guildId, owner.id)), 'guild');
      });

      it('adds members through an invite, counting uses and refusing an exhausted invite', async () => {
        const owner = await newUser(stores);
        const guildId = await newGuild(owner.id);
        const code = `lim${ids.next()}`;
        await stores.guilds.createInvite({
          code, guildId, channelId: null, inviterId: owner.id, maxUses: 2, uses: 0, expiresAt: null, createdAt: T0,
        });
        const [a, b, c] = [await newUser(stores), await newUser(stores), await newUser(stores)];
        await stores.guilds.addMember(member(guildId, a.id, T0 + 1), code);
        await stores.guilds.addMember(member(guildId, b.id, T0 + 2), code);
        assert.equal((await stores.guilds.findInvite(code))?.uses, 2);
        await assertConflict(stores.guilds.addMember(member(guildId, c.id, T0 + 3), code), 'invite');
        const snap = await stores.guilds.load(guildId);
        assert.deepEqual(snap?.members.map((m) => m.userId), [owner.id, a.id, b.id]);
        assert.deepEqual(await stores.guilds.listGuildIdsOfUser(c.id), []);
        assert.equal((await stores.guilds.findInvite(code))?.uses, 2);
      });

      it('refuses an expired invite without writing, and an invite of another guild', async () => {
        const owner = await newUser(stores);
        const guildId = await newGuild(owner.id);
        const otherGuild = await newGuild(owner.id);
        const code = `exp${ids.next()}`;
        const invite = {
          code, guildId, channelId: null, inviterId: owner.id, maxUses: null, uses: 0, expiresAt: T0 + 1000, createdAt: T0,
        };
        await stores.guilds.createInvite(invite);
        assert.deepEqual(await stores.guilds.findInvite(code), invite);
        const u = await newUser(stores);
        await assertConflict(stores.guilds.addMember(member(guildId, u.id, T0 + 1000), code), 'invite');
        await assertConflict(stores.guilds.addMember(member(otherGuild, u.id, T0), code), 'invite');
        await assertConflict(stores.guilds.addMember(member(guildId, u.id, T0), 'no-such-code'), 'invite');
        assert.deepEqual(await stores.guilds.listGuildIdsOfUser(u.id), []);
        assert.equal((await stores.guilds.findInvite(code))?.uses, 0);
        // Just before expiry it still works.
        await stores.guilds.addMember(member(guildId, u.id, T0 + 999), code);
        assert.equal((await stores.guilds.findInvite(code))?.uses, 1);
        assert.equal(await stores.guilds.findInvite('missing'), null);
        await assertConflict(stores.guilds.createInvite(invite), 'invite');
      });

      it('refuses an existing member without consuming the invite', async () => {
        const owner = await newUser(stores);
        const guildId = await newGuild(owner.id);
        const code = `dup${ids.next()}`;
        await stores.guilds.createInvite({
          code, guildId, channelId: null, inviterId: owner.id, maxUses: 5, uses: 0, expiresAt: null, createdAt: T0,
        });
        await assertConflict(stores.guilds.addMember(member(guildId, owner.id, T0), code), 'member');
        assert.equal((await stores.guilds.findInvite(code))?.uses, 0);
        const u = await newUser(stores);
        await stores.guilds.addMember(member(guildId, u.id, T0));
        await assertConflict(stores.guilds.addMember(member(guildId, u.id, T0)), 'member');
      });

      it('counts concurrent joins on a limited invite exactly', async () => {
        const owner = await newUser(stores);
        const guildId = await newGuild(owner.id);
        const code = `race${ids.next()}`;
        await stores.guilds.createInvite({
          code, guildId, channelId: null, inviterId: owner.id, maxUses: 3, uses: 0, expiresAt: null, createdAt: T0,
        });
        const users = await Promise.all(Array.from({ length: 8 }, () => newUser(stores)));
        const results = await Promise.allSettled(users.map((u) => stores.guilds.addMember(member(guildId, u.id, T0), code)));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
        for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof ConflictError && r.reason.field === 'invite');
        assert.equal((await stores.guilds.findInvite(code))?.uses, 3);
        assert.equal((await stores.guilds.load(guildId))?.members.length, 4);
      });

      it('lists the guilds of a user, oldest membership first', async () => {
        const owner = await newUser(stores);
        const u = await newUser(stores);
        const g1 = await newGuild(owner.id);
        const g2 = await newGuild(owner.id);
        const g3 = await newGuild(owner.id);
        // Joined in an order unrelated to guild id order.
        await stores.guilds.addMember(member(g2, u.id, T0 + 10));
        await stores.guilds.addMember(member(g3, u.id, T0 + 20));
        await stores.guilds.addMember(member(g1, u.id, T0 + 30));
        assert.deepEqual(await stores.guilds.listGuildIdsOfUser(u.id), [g2, g3, g1]);
      });
    });

    /** A guild with a category, two text channels (one in the category) and the owner as member. */
    async function guildWithChannels(ownerId: string): Promise<{ guildId: string; category: string; general: string; random: string }> {
      const guildId = ids.next();
      const [category, general, random] = [ids.next(), ids.next(), ids.next()];
      const ch = (id: string, name: string, type: number, parentId: string | null, position: number): ChannelRecord => ({
        id, guildId, type, name, topic: null, parentId, position, createdAt: T0,
      });
      await stores.guilds.create(
        guildRecord(guildId, ownerId, { systemChannelId: general }),
        everyoneRole(guildId),
        [ch(category, 'Text', 4, null, 0), ch(general, 'general', 0, category, 1), ch(random, 'random', 0, category, 2)],
        member(guildId, ownerId),
      );
      return { guildId, category, general, random };
    }

    function invite(guildId: string, inviterId: string, over: Partial<InviteRecord> = {}): InviteRecord {
      return {
        code: `inv${ids.next()}`, guildId, channelId: null, inviterId, maxUses: null, uses: 0, expiresAt: null, createdAt: T0, ...over,
      };
    }

    /** Row count of `table` matching `column = value`, read directly from the database. */
    async function countRows(table: 'roles' | 'member_roles' | 'channel_overwrites' | 'bans' | 'invites' | 'channels' | 'members' | 'audit_log' | 'messages', column: string, value: string): Promise<number> {
      const rows = await t.database.db
        .selectFrom(table as 'roles')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where(column as 'guild_id', '=', value)
        .executeTakeFirstOrThrow();
      return Number(rows.n);
    }

    describe('guild settings and channels', () => {
      it('updateGuild patches only the given fields; null clears, an empty patch changes nothing', async () => {
        const owner = await newUser(stores);
        const heir = await newUser(stores);
        const { guildId, random } = await guildWithChannels(owner.id);
        await stores.guilds.updateGuild(guildId, { name: 'Renamed', description: 'Desc', iconUrl: 'https://x/i.png' });
        let g = (await stores.guilds.load(guildId))!.guild;
        assert.deepEqual({ ...g }, { ...g, name: 'Renamed', description: 'Desc', iconUrl: 'https://x/i.png', ownerId: owner.id });
        const general = g.systemChannelId;
        assert.ok(general);
        await stores.guilds.updateGuild(guildId, { description: null, systemChannelId: random, ownerId: heir.id });
        g = (await stores.guilds.load(guildId))!.guild;
        assert.deepEqual(g, guildRecord(guildId, heir.id, { name: 'Renamed', description: null, iconUrl: 'https://x/i.png', systemChannelId: random }));
        await stores.guilds.updateGuild(guildId, {});
        await stores.guilds.updateGuild(guildId, { name: undefined });
        assert.deepEqual((await stores.guilds.load(guildId))!.guild, g);
        await stores.guilds.updateGuild(guildId, { systemChannelId: null });
        assert.equal((await stores.guilds.load(guildId))!.guild.systemChannelId, null);
        // The system channel must exist.
        await assert.rejects(stores.guilds.updateGuild(guildId, { systemChannelId: ids.next() }));
      });

      it('updateChannel patches fields; updateChannelPositions moves several channels, ignoring other guilds', async () => {
        const owner = await newUser(stores);
        const { guildId, category, general, random } = await guildWithChannels(owner.id);
        const other = await guildWithChannels(owner.id);
        await stores.guilds.updateChannel(general, { name: 'lobby', topic: 'Say hi' });
        await stores.guilds.updateChannel(random, { parentId: null, position: 7 });
        await stores.guilds.updateChannel(random, {});
        let snap = (await stores.guilds.load(guildId))!;
        const byId = (id: string) => snap.channels.find((c) => c.id === id)!;
        assert.deepEqual(
          [byId(general).name, byId(general).topic, byId(general).parentId, byId(general).position],
          ['lobby', 'Say hi', category, 1],
        );
        assert.deepEqual([byId(random).name, byId(random).parentId, byId(random).position], ['random', null, 7]);
        await stores.guilds.updateChannel(general, { topic: null });
        assert.equal((await stores.guilds.load(guildId))!.channels.find((c) => c.id === general)!.topic, null);

        await stores.guilds.updateChannelPositions(guildId, [
          { id: random, position: 0, parentId: category },
          { id: general, position: 1, parentId: null },
          { id: category, position: 2, parentId: null },
          { id: other.general, position: 99, parentId: null }, // another guild's channel: ignored
        ]);
        snap = (await stores.guilds.load(guildId))!;
        assert.deepEqual(
          snap.channels.map((c) => [c.id, c.position, c.parentId]),
          [[random, 0, category], [general, 1, null], [category, 2, null]],
        );
        const otherGeneral = (await stores.guilds.load(other.guildId))!.channels.find((c) => c.id === other.general)!;
        assert.deepEqual([otherGeneral.position, otherGeneral.parentId], [1, other.category]);
        await stores.guilds.updateChannelPositions(guildId, []);
      });

      it('deleteChannel removes its messages, overwrites and invites, orphans its children and clears the system channel', async () => {
        const owner = await newUser(stores);
        const { guildId, category, general, random } = await guildWithChannels(owner.id);
        const ow = (channelId: string, targetId: string, targetType: 0 | 1 = 0) => ({ channelId, targetId, targetType, allow: '1024', deny: '2048' });
        await stores.guilds.setOverwrite(ow(category, guildId));
        await stores.guilds.setOverwrite(ow(general, guildId));
        await stores.guilds.setOverwrite(ow(general, owner.id, 1));
        await stores.guilds.setOverwrite(ow(random, guildId));
        const categoryInvite = invite(guildId, owner.id, { channelId: category });
        const generalInvite = invite(guildId, owner.id, { channelId: general });
        const guildInvite = invite(guildId, owner.id);
        for (const i of [categoryInvite, generalInvite, guildInvite]) await stores.guilds.createInvite(i);
        const messages = [message(general, { guildId })];
        await stores.messages.insertMany(messages);

        await stores.guilds.deleteChannel(general);
        let snap = (await stores.guilds.load(guildId))!;
        assert.deepEqual(snap.channels.map((c) => c.id), [category, random]);
        assert.equal(snap.guild.systemChannelId, null);
        assert.deepEqual(snap.overwrites.map((o) => o.channelId).sort(), [category, random].sort());
        assert.equal(await stores.guilds.findInvite(generalInvite.code), null);
        assert.deepEqual(await stores.guilds.findInvite(guildInvite.code), guildInvite);

        await stores.guilds.deleteChannel(category);
        snap = (await stores.guilds.load(guildId))!;
        assert.deepEqual(snap.channels.map((c) => [c.id, c.parentId]), [[random, null]]);
        assert.deepEqual(snap.overwrites, [ow(random, guildId)]);
        assert.equal(await stores.guilds.findInvite(categoryInvite.code), null);
        assert.deepEqual((await stores.guilds.listInvites(guildId)).map((i) => i.code), [guildInvite.code]);
        // The channel's messages go with it, in the same transaction.
        assert.equal(await stores.messages.findById(general, messages[0]!.id), null);
        await stores.guilds.deleteChannel(ids.next()); // unknown: no error
      });
    });

    describe('roles', () => {
      it('creates, updates and reorders roles; load returns them by position', async () => {
        const owner = await newUser(stores);
        const guildId = await newGuild(owner.id);
        const otherGuild = await newGuild(owner.id);
        const mod = role(guildId, 2, { name: 'Mod', permissions: '1099511627776', hoist: true }); // MODERATE_MEMBERS (1 << 40)
        const helper = role(guildId, 1, { name: 'Helper', mentionable: true, color: 0 });
        const top = role(guildId, 3, { permissions: '4503599627370495' }); // 2^52 - 1: every bit in use and more
        for (const r of [mod, helper, top]) await stores.guilds.createRole(r);
        const foreign = role(otherGuild, 1);
        await stores.guilds.createRole(foreign);
        let snap = (await stores.guilds.load(guildId))!;
        assert.deepEqual(snap.roles, [everyoneRole(guildId), helper, mod, top]);
        await assertConflict(stores.guilds.createRole({ ...helper, name: 'again' }), 'role');
        await assertConflict(stores.guilds.createRole({ ...role(otherGuild, 5), id: helper.id }), 'role');

        // The full signed 64-bit range round-trips as decimal strings.
        await stores.guilds.updateRole(top.id, { permissions: '9223372036854775807' });
        await stores.guilds.updateRole(mod.id, { name: 'Moderator', color: 0xff0000, mentionable: true, hoist: false });
        await stores.guilds.updateRole(helper.id, {});
        await stores.guilds.updateRole(guildId, { permissions: '0' });
        snap = (await stores.guilds.load(guildId))!;
        assert.deepEqual(snap.roles, [
          { ...everyoneRole(guildId), permissions: '0' },
          helper,
          { ...mod, name: 'Moderator', color: 0xff0000, mentionable: true, hoist: false },
          { ...top, permissions: '9223372036854775807' },
        ]);

        await stores.guilds.updateRolePositions(guildId, [
          { id: top.id, position: 1 },
          { id: helper.id, position: 3 },
          { id: mod.id, position: 2 },
          { id: foreign.id, position: 42 }, // another guild's role: ignored
        ]);
        snap = (await stores.guilds.load(guildId))!;
        assert.deepEqual(snap.roles.map((r) => [r.id, r.position]), [[guildId, 0], [top.id, 1], [mod.id, 2], [helper.id, 3]]);
        assert.deepEqual((await stores.guilds.load(otherGuild))!.roles.map((r) => [r.id, r.position]), [[otherGuild, 0], [foreign.id, 1]]);
        await stores.guilds.updateRolePositions(guildId, []);
      });

      it('assigns and unassigns member roles; load lists each member with its role ids', async () => {
        const owner = await newUser(stores);
        const [a, b] = [await newUser(stores), await newUser(stores)];
        const guildId = await newGuild(owner.id);
        const otherGuild = await newGuild(owner.id);
        const [r1, r2] = [role(guildId, 1), role(guildId, 2)];
        const foreign = role(otherGuild, 1);
        for (const r of [r1, r2, foreign]) await stores.guilds.createRole(r);
        // addMember writes the roles it is given.
        await stores.guilds.addMember(member(guildId, a.id, T0 + 1, { roleIds: [r2.id, r1.id] }));
        await stores.guilds.addMember(member(guildId, b.id, T0 + 2, { nickname: 'bee' }));
        await stores.guilds.addMemberRole(guildId, b.id, r2.id);
        await stores.guilds.addMemberRole(guildId, b.id, r2.id); // idempotent
        let snap = (await stores.guilds.load(guildId))!;
        assert.deepEqual(snap.members, [
          member(guildId, owner.id),
          member(guildId, a.id, T0 + 1, { roleIds: [r1.id, r2.id] }),
          member(guildId, b.id, T0 + 2, { nickname: 'bee', roleIds: [r2.id] }),
        ]);

        assert.equal(await stores.guilds.removeMemberRole(guildId, a.id, r1.id), true);
        assert.equal(await stores.guilds.removeMemberRole(guildId, a.id, r1.id), false);
        snap = (await stores.guilds.load(guildId))!;
        assert.deepEqual(snap.members.find((m) => m.userId === a.id)?.roleIds, [r2.id]);

        // A role of another guild, or a user who is not a member, is refused.
        await assert.rejects(stores.guilds.addMemberRole(guildId, a.id, foreign.id));
        await assert.rejects(stores.guilds.addMemberRole(guildId, (await newUser(stores)).id, r1.id));
        await assert.rejects(stores.guilds.addMember(member(guildId, (await newUser(stores)).id, T0, { roleIds: [foreign.id] })));
        assert.deepEqual((await stores.guilds.load(guildId))!.members.length, 3);
      });

      it('deleteRole removes its assignments and the overwrites that target it, and nothing else', async () => {
        const owner = await newUser(stores);
        const u = await newUser(stores);
        const { guildId, general, random } = await guildWithChannels(owner.id);
        const [doomed, kept] = [role(guildId, 1), role(guildId, 2)];
        await stores.guilds.createRole(doomed);
        await stores.guilds.createRole(kept);
        await stores.guilds.addMember(member(guildId, u.id, T0 + 1, { roleIds: [doomed.id, kept.id] }));
        const ow = (channelId: string, targetId: string, targetType: 0 | 1) => ({ channelId, targetId, targetType, allow: '0', deny: '1024' });
        const keptOverwrites = [ow(general, kept.id, 0), ow(general, u.id, 1), ow(random, guildId, 0)];
        for (const o of [ow(general, doomed.id, 0), ow(random, doomed.id, 0), ...keptOverwrites]) await stores.guilds.setOverwrite(o);

        await stores.guilds.deleteRole(doomed.id);
        const snap = (await stores.guilds.load(guildId))!;
        assert.deepEqual(snap.roles.map((r) => r.id), [guildId, kept.id]);
        assert.deepEqual(snap.members.find((m) => m.userId === u.id)?.roleIds, [kept.id]);
        const key = (o: { channelId: string; targetId: string }) => `${o.channelId}:${o.targetId}`;
        assert.deepEqual(snap.overwrites.map(key).sort(), keptOverwrites.map(key).sort());
        assert.equal(await countRows('member_roles', 'role_id', doomed.id), 0);
        await stores.guilds.deleteRole(doomed.id); // already gone: no error
      });
    });

    describe('channel overwrites', () => {
      it('setOverwrite inserts or replaces per (channel, target); deleteOverwrite reports whether it existed', async () => {
        const owner = await newUser(stores);
        const { guildId, general, random } = await guildWithChannels(owner.id);
        const other = await guildWithChannels(owner.id);
        const r = role(guildId, 1);
        await stores.guilds.createRole(r);
        const everyoneDeny = { channelId: general, targetId: guildId, targetType: 0 as const, allow: '0', deny: '1024' };
        const roleAllow = { channelId: general, targetId: r.id, targetType: 0 as const, allow: '3072', deny: '0' };
        const memberOw = { channelId: random, targetId: owner.id, targetType: 1 as const, allow: '9223372036854775807', deny: '8192' };
        for (const o of [memberOw, roleAllow, everyoneDeny]) await stores.guilds.setOverwrite(o);
        await stores.guilds.setOverwrite({ channelId: other.general, targetId: other.guildId, targetType: 0, allow: '0', deny: '1' });
        const sortKey = (o: { channelId: string; targetId: string }) => [BigInt(o.channelId), BigInt(o.targetId)] as const;
        const ordered = <T extends { channelId: string; targetId: string }>(list: T[]) =>
          [...list].sort((x, y) => {
            const [a, b] = [sortKey(x), sortKey(y)];
            return a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
          });
        assert.deepEqual((await stores.guilds.load(guildId))!.overwrites, ordered([everyoneDeny, roleAllow, memberOw]));

        const replaced = { ...roleAllow, allow: '0', deny: '2048' };
        await stores.guilds.setOverwrite(replaced);
        assert.deepEqual((await stores.guilds.load(guildId))!.overwrites, ordered([everyoneDeny, replaced, memberOw]));

        assert.equal(await stores.guilds.deleteOverwrite(general, r.id), true);
        assert.equal(await stores.guilds.deleteOverwrite(general, r.id), false);
        assert.equal(await stores.guilds.deleteOverwrite(random, guildId), false);
        assert.deepEqual((await stores.guilds.load(guildId))!.overwrites, ordered([everyoneDeny, memberOw]));
        assert.equal((await stores.guilds.load(other.guildId))!.overwrites.length, 1);
        // target_type is 0 or 1 only.
        await assert.rejects(stores.guilds.setOverwrite({ ...everyoneDeny, targetType: 2 as 0 }));
      });
    });

    describe('members, bans and invites', () => {
      it('updateMember sets and clears nickname and timeout', async () => {
        const owner = await newUser(stores);
        const u = await newUser(stores);
        const guildId = await newGuild(owner.id);
        await stores.guilds.addMember(member(guildId, u.id, T0 + 1));
        const until = T0 + 60_000 + 7;
        await stores.guilds.updateMember(guildId, u.id, { nickname: 'Nick', timeoutUntil: until });
        const find = async () => (await stores.guilds.load(guildId))!.members.find((m) => m.userId === u.id);
        assert.deepEqual(await find(), member(guildId, u.id, T0 + 1, { nickname: 'Nick', timeoutUntil: until }));
        await stores.guilds.updateMember(guildId, u.id, { timeoutUntil: null });
        assert.deepEqual(await find(), member(guildId, u.id, T0 + 1, { nickname: 'Nick' }));
        await stores.guilds.updateMember(guildId, u.id, {});
        await stores.guilds.updateMember(guildId, u.id, { nickname: null });
        assert.deepEqual(await find(), member(guildId, u.id, T0 + 1));
        assert.deepEqual((await stores.guilds.load(guildId))!.members[0], member(guildId, owner.id));
      });

      it('removeMember removes the membership and its role assignments', async () => {
        const owner = await newUser(stores);
        const u = await newUser(stores);
        const guildId = await newGuild(owner.id);
        const r = role(guildId, 1);
        await stores.guilds.createRole(r);
        await stores.guilds.addMember(member(guildId, u.id, T0 + 1, { roleIds: [r.id] }));
        assert.equal(await stores.guilds.removeMember(guildId, u.id), true);
        assert.equal(await stores.guilds.removeMember(guildId, u.id), false);
        assert.deepEqual((await stores.guilds.load(guildId))!.members.map((m) => m.userId), [owner.id]);
        assert.deepEqual(await stores.guilds.listGuildIdsOfUser(u.id), []);
        assert.equal(await countRows('member_roles', 'role_id', r.id), 0);
        // Rejoining starts without the old roles.
        await stores.guilds.addMember(member(guildId, u.id, T0 + 2));
        assert.deepEqual((await stores.guilds.load(guildId))!.members.find((m) => m.userId === u.id)?.roleIds, []);
      });

      it('ban removes membership and roles in one go, replaces an existing ban, and unban lifts it', async () => {
        const owner = await newUser(stores);
        const [u, v, stranger] = [await newUser(stores), await newUser(stores), await newUser(stores)];
        const guildId = await newGuild(owner.id);
        const otherGuild = await newGuild(owner.id);
        const r = role(guildId, 1);
        await stores.guilds.createRole(r);
        await stores.guilds.addMember(member(guildId, u.id, T0 + 1, { roleIds: [r.id] }));
        await stores.guilds.addMember(member(guildId, v.id, T0 + 2));
        await stores.guilds.addMember(member(otherGuild, u.id, T0 + 3));

        const banU = { guildId, userId: u.id, moderatorId: owner.id, reason: 'spam', createdAt: T0 + 10 };
        await stores.guilds.ban(banU);
        assert.deepEqual(await stores.guilds.findBan(guildId, u.id), banU);
        assert.deepEqual((await stores.guilds.load(guildId))!.members.map((m) => m.userId), [owner.id, v.id]);
        assert.equal(await countRows('member_roles', 'role_id', r.id), 0);
        // Other guilds are untouched.
        assert.deepEqual(await stores.guilds.listGuildIdsOfUser(u.id), [otherGuild]);
        assert.equal(await stores.guilds.findBan(otherGuild, u.id), null);

        // A user who is not a member can be banned; bans list newest first.
        const banStranger = { guildId, userId: stranger.id, moderatorId: v.id, reason: null, createdAt: T0 + 20 };
        await stores.guilds.ban(banStranger);
        const banV = { guildId, userId: v.id, moderatorId: owner.id, reason: 'rude', createdAt: T0 + 15 };
        await stores.guilds.ban(banV);
        assert.deepEqual(await stores.guilds.listBans(guildId), [banStranger, banV, banU]);
        assert.deepEqual(await stores.guilds.listBans(otherGuild), []);

        // Banning again replaces moderator, reason and time.
        const rebanU = { guildId, userId: u.id, moderatorId: v.id, reason: 'again', createdAt: T0 + 30 };
        await stores.guilds.ban(rebanU);
        assert.deepEqual(await stores.guilds.listBans(guildId), [rebanU, banStranger, banV]);

        assert.equal(await stores.guilds.unban(guildId, u.id), true);
        assert.equal(await stores.guilds.unban(guildId, u.id), false);
        assert.equal(await stores.guilds.findBan(guildId, u.id), null);
        assert.deepEqual(await stores.guilds.listBans(guildId), [banStranger, banV]);
        // Storage does not enforce bans on join: the engine checks findBan.
        await stores.guilds.addMember(member(guildId, u.id, T0 + 40));
        assert.deepEqual((await stores.guilds.load(guildId))!.members.map((m) => m.userId), [owner.id, u.id]);
      });

      it('lists invites of a guild newest first and deletes them', async () => {
        const owner = await newUser(stores);
        const { guildId, general } = await guildWithChannels(owner.id);
        const otherGuild = await newGuild(owner.id);
        const old = invite(guildId, owner.id, { createdAt: T0 + 1, maxUses: 5, expiresAt: T0 + 1000 });
        const mid = invite(guildId, owner.id, { createdAt: T0 + 2, channelId: general });
        const recent = invite(guildId, owner.id, { createdAt: T0 + 3 });
        for (const i of [mid, recent, old]) await stores.guilds.createInvite(i);
        await stores.guilds.createInvite(invite(otherGuild, owner.id));
        assert.deepEqual(await stores.guilds.listInvites(guildId), [recent, mid, old]);
        assert.equal(await stores.guilds.deleteInvite(mid.code), true);
        assert.equal(await stores.guilds.deleteInvite(mid.code), false);
        assert.equal(await stores.guilds.findInvite(mid.code), null);
        assert.deepEqual(await stores.guilds.listInvites(guildId), [recent, old]);
        assert.equal((await stores.guilds.listInvites(otherGuild)).length, 1);
        assert.deepEqual(await stores.guilds.listInvites(ids.next()), []);
      });
    });

    describe('guild deletion', () => {
      it('deleteGuild removes everything of the guild, its messages and audit log included, and nothing else', async () => {
        const owner = await newUser(stores);
        const u = await newUser(stores);
        const doomed = await guildWithChannels(owner.id);
        const kept = await guildWithChannels(owner.id);
        for (const g of [doomed, kept]) {
          const r = role(g.guildId, 1);
          await stores.guilds.createRole(r);
          await stores.guilds.addMember(member(g.guildId, u.id, T0 + 1, { roleIds: [r.id] }));
          await stores.guilds.setOverwrite({ channelId: g.general, targetId: r.id, targetType: 0, allow: '1024', deny: '0' });
          await stores.guilds.ban({ guildId: g.guildId, userId: (await newUser(stores)).id, moderatorId: owner.id, reason: null, createdAt: T0 });
          await stores.guilds.createInvite(invite(g.guildId, owner.id, { channelId: g.random }));
          await stores.messages.insertMany([message(g.general, { guildId: g.guildId }), message(g.random, { guildId: g.guildId })]);
          await stores.audit.insertMany([audit(g.guildId, owner.id, 1), audit(g.guildId, owner.id, 30)]);
        }
        const dm = message(ids.next());
        await stores.messages.insertMany([dm]);
        const keptBefore = await stores.guilds.load(kept.guildId);

        await stores.guilds.deleteGuild(doomed.guildId);
        assert.equal(await stores.guilds.load(doomed.guildId), null);
        for (const table of ['roles', 'member_roles', 'bans', 'invites', 'channels', 'members', 'audit_log', 'messages'] as const) {
          assert.equal(await countRows(table, 'guild_id', doomed.guildId), 0, table);
          assert.ok((await countRows(table, 'guild_id', kept.guildId)) > 0, table);
        }
        assert.equal(await countRows('channel_overwrites', 'channel_id', doomed.general), 0);
        assert.deepEqual(await stores.messages.history(doomed.general, { before: null, limit: 10 }), []);
        assert.deepEqual(await stores.audit.query(doomed.guildId, auditQuery()), []);
        assert.deepEqual(await stores.guilds.listGuildIdsOfUser(u.id), [kept.guildId]);

        assert.deepEqual(await stores.guilds.load(kept.guildId), keptBefore);
        assert.equal((await stores.messages.history(kept.general, { before: null, limit: 10 })).length, 1);
        assert.equal((await stores.audit.query(kept.guildId, auditQuery())).length, 2);
        assert.deepEqual(await stores.messages.findById(dm.channelId, dm.id), dm);
        await stores.guilds.deleteGuild(doomed.guildId); // already gone: no error
      });
    });

    describe('audit log', () => {
      it('round-trips entries, changes included, newest first; a duplicate id fails the whole batch', async () => {
        const owner = await newUser(stores);
        const guildId = await newGuild(owner.id);
        const changes = [
          { key: 'name', old: 'old "name"', new: 'new\\nname ☃' },
          { key: 'permissions', old: '1024', new: '9223372036854775807' },
          { key: 'nested', new: { a: [1, 2, { b: null }], c: true } },
          { key: 'removed', old: 3 },
        ];
        const e1 = audit(guildId, owner.id, 10, { changes, reason: 'because', targetId: ids.next() });
        const e2 = audit(guildId, owner.id, 22, { changes: [], targetId: null, reason: null });
        await stores.audit.insertMany([e1, e2]);
        await stores.audit.insertMany([]);
        assert.deepEqual(await stores.audit.query(guildId, auditQuery()), [e2, e1]);
        const e3 = audit(guildId, owner.id, 1);
        await assertConflict(stores.audit.insertMany([e3, { ...e1 }]), 'audit');
        assert.deepEqual(await stores.audit.query(guildId, auditQuery()), [e2, e1]);
        // Entries need an existing guild.
        await assert.rejects(stores.audit.insertMany([audit(ids.next(), owner.id, 1)]));
      });

      it('filters by user and action, pages with before and after, and clamps the limit', async () => {
        const [owner, mod] = [await newUser(stores), await newUser(stores)];
        const guildId = await newGuild(owner.id);
        const otherGuild = await newGuild(owner.id);
        // 30 entries, oldest first: actor alternates, action cycles 1, 2, 3.
        const entries = Array.from({ length: 30 }, (_, i) => audit(guildId, i % 2 ? mod.id : owner.id, (i % 3) + 1));
        await stores.audit.insertMany([...entries, audit(otherGuild, owner.id, 1)]);
        const newest = [...entries].reverse();
        const q = (over: Partial<Parameters<typeof stores.audit.query>[1]>) => stores.audit.query(guildId, auditQuery(over));

        assert.deepEqual(await q({}), newest);
        assert.deepEqual(await q({ userId: mod.id }), newest.filter((e) => e.actorId === mod.id));
        assert.deepEqual(await q({ action: 2 }), newest.filter((e) => e.action === 2));
        assert.deepEqual(await q({ userId: owner.id, action: 3 }), newest.filter((e) => e.actorId === owner.id && e.action === 3));
        assert.deepEqual(await q({ userId: ids.next() }), []);

        // before: the newest entries older than the cursor.
        assert.deepEqual(await q({ before: newest[9]!.id, limit: 5 }), newest.slice(10, 15));
        // after: the entries right after the cursor (oldest of them first in storage), returned newest first.
        assert.deepEqual(await q({ after: entries[9]!.id, limit: 5 }), entries.slice(10, 15).reverse());
        assert.deepEqual(await q({ after: entries[27]!.id, limit: 5 }), entries.slice(28).reverse());
        // Both: the window between them.
        assert.deepEqual(await q({ after: entries[4]!.id, before: entries[8]!.id }), entries.slice(5, 8).reverse());
        assert.deepEqual(await q({ after: entries[4]!.id, before: entries[5]!.id }), []);
        // Paging backwards with before visits every entry once.
        const seen: string[] = [];
        let before: string | null = null;
        for (;;) {
          const page = await q({ before, limit: 7 });
          seen.push(...page.map((e) => e.id));
          if (page.length < 7) break;
          before = page.at(-1)!.id;
        }
        assert.deepEqual(seen, newest.map((e) => e.id));
        // Filters combine with cursors.
        assert.deepEqual(await q({ userId: mod.id, before: newest[0]!.id, limit: 2 }), newest.filter((e) => e.actorId === mod.id).slice(1, 3));

        assert.equal((await q({ limit: 0 })).length, 1);
        assert.equal((await q({ limit: 3 })).length, 3);
        const many = Array.from({ length: 120 }, () => audit(guildId, owner.id, 5));
        await stores.audit.insertMany(many);
        assert.equal((await q({ limit: 1000 })).length, 100);
        assert.deepEqual((await stores.audit.query(otherGuild, auditQuery())).length, 1);
      });
    });

    describe('messages', () => {
      it('inserts a batch and pages history newest first with before and limit', async () => {
        const channel = ids.next();
        const other = ids.next();
        const rows = Array.from({ length: 250 }, (_, i) => message(channel, { content: `m${i}`, nonce: i % 2 ? `n${i}` : null, guildId: '42', createdAt: T0 + i }));
        await stores.messages.insertMany([...rows, message(other)]);
        const newest = [...rows].reverse();

        assert.deepEqual(await stores.messages.history(channel, { before: null, limit: 100 }), newest.slice(0, 100));
        assert.deepEqual(await stores.messages.history(channel, { before: newest[99]!.id, limit: 100 }), newest.slice(100, 200));
        assert.deepEqual(await stores.messages.history(channel, { before: newest[199]!.id, limit: 100 }), newest.slice(200));
        assert.deepEqual(await stores.messages.history(channel, { before: rows[0]!.id, limit: 10 }), []);
        assert.deepEqual(await stores.messages.history(channel, { before: null, limit: 3 }), newest.slice(0, 3));
        assert.equal((await stores.messages.history(channel, { before: null, limit: 1000 })).length, 100);
        assert.deepEqual((await allHistory(stores.messages, other)).length, 1);
        assert.deepEqual(await stores.messages.history(ids.next(), { before: null, limit: 50 }), []);
        await stores.messages.insertMany([]);
      });

      it('writes more than one chunk in one call, and all-or-nothing on a duplicate id', async () => {
        const channel = ids.next();
        const rows = Array.from({ length: 2500 }, (_, i) => message(channel, { content: `c${i}` }));
        await stores.messages.insertMany(rows);
        const all = await allHistory(stores.messages, channel);
        assert.deepEqual(all.map((m) => m.id), rows.map((m) => m.id).reverse());

        const channel2 = ids.next();
        const fresh = Array.from({ length: 1500 }, () => message(channel2));
        await assertConflict(stores.messages.insertMany([...fresh, { ...rows[0]!, channelId: channel2 }]), 'message');
        assert.deepEqual(await stores.messages.history(channel2, { before: null, limit: 10 }), []);
      });

      it('round-trips type and mentions through one multi-row insert, in history and findById', async () => {
        const channel = ids.next();
        const rows = [
          message(channel, { type: 0, mentions: { users: ['9223372036854775807', '2'], roles: ['3'], everyone: true }, content: '<@2> <@&3> @everyone' }),
          message(channel, { type: 7, mentions: null, content: '' }), // a system message
          message(channel, { type: 0, mentions: { users: [], roles: [], everyone: false } }),
          message(channel, { type: 19, mentions: { users: ['1'], roles: [], everyone: false }, content: 'quote " and \\ backslash ☃' }),
        ];
        await stores.messages.insertMany(rows);
        assert.deepEqual(await stores.messages.history(channel, { before: null, limit: 10 }), [...rows].reverse());
        for (const row of rows) assert.deepEqual(await stores.messages.findById(channel, row.id), row);
        // Stored as jsonb objects (not JSON strings), so the database can query into them.
        const stored = await t.database.db
          .selectFrom('messages')
          .select((eb) => eb.fn<string>('jsonb_typeof', ['mentions']).as('kind'))
          .where('id', '=', rows[0]!.id)
          .executeTakeFirstOrThrow();
        assert.equal(stored.kind, 'object');
        const nullKind = await t.database.db
          .selectFrom('messages')
          .select((eb) => eb.fn<string>('jsonb_typeof', ['mentions']).as('kind'))
          .where('id', '=', rows[1]!.id)
          .executeTakeFirstOrThrow();
        assert.equal(nullKind.kind, null);
      });

      it('findById and delete address a message within its channel', async () => {
        const channel = ids.next();
        const other = ids.next();
        const [m1, m2] = [message(channel), message(channel)];
        await stores.messages.insertMany([m1, m2]);
        assert.deepEqual(await stores.messages.findById(channel, m1.id), m1);
        assert.equal(await stores.messages.findById(other, m1.id), null);
        assert.equal(await stores.messages.findById(channel, ids.next()), null);
        assert.equal(await stores.messages.delete(other, m1.id), false);
        assert.equal(await stores.messages.delete(channel, m1.id), true);
        assert.equal(await stores.messages.delete(channel, m1.id), false);
        assert.equal(await stores.messages.findById(channel, m1.id), null);
        assert.deepEqual(await stores.messages.history(channel, { before: null, limit: 10 }), [m2]);
      });

      it('round-trips ids above 2^53 exactly as strings', async () => {
        const channel = '9007199254740993'; // 2^53 + 1
        const big = ['9223372036854775807', '9223372036854775806', '9007199254740995', '9007199254740993'];
        await stores.messages.insertMany(big.map((id) => message(channel, { id, authorId: '9223372036854775801', guildId: '9007199254740997' })));
        const page = await stores.messages.history(channel, { before: null, limit: 10 });
        assert.deepEqual(page.map((m) => m.id), big);
        assert.equal(page[0]!.authorId, '9223372036854775801');
        assert.equal(page[0]!.guildId, '9007199254740997');
        assert.equal(page[0]!.channelId, channel);
        const older = await stores.messages.history(channel, { before: '9223372036854775807', limit: 10 });
        assert.deepEqual(older.map((m) => m.id), big.slice(1));
        // Numeric, not lexical, comparison of the cursor.
        const beforeShort = await stores.messages.history(channel, { before: '10000000000000000', limit: 10 });
        assert.deepEqual(beforeShort.map((m) => m.id), ['9007199254740995', '9007199254740993']);

        const u = await newUser(stores, { id: '9223372036854775807' });
        assert.equal((await stores.users.findById('9223372036854775807'))?.id, u.id);
      });
    });

    describe('dms', () => {
      it('findOrCreatePair: concurrent calls yield one DM, in either argument order', async () => {
        const a = await newUser(stores);
        const b = await newUser(stores);
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => stores.dms.findOrCreatePair(i % 2 ? a.id : b.id, i % 2 ? b.id : a.id, ids.next(), T0)),
        );
        assert.equal(new Set(results.map((r) => r.dm.id)).size, 1);
        assert.equal(results.filter((r) => r.created).length, 1);
        const dm = results[0]!.dm;
        assert.deepEqual(dm.participantIds, [a.id, b.id].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1)));
        assert.equal(dm.createdAt, T0);
        assert.equal(dm.lastMessageId, null);
        assert.deepEqual(await stores.dms.load(dm.id), dm);
        assert.deepEqual(await stores.dms.listForUser(a.id), [dm]);
        assert.equal(await stores.dms.load(ids.next()), null);
        // Losers' DM ids were rolled back.
        for (const r of results) if (r.dm.id !== dm.id) assert.equal(await stores.dms.load(r.dm.id), null);
      });

      it('lists DMs by most recent activity, touch moving a DM first and never backwards', async () => {
        const me = await newUser(stores);
        const [x, y, z] = [await newUser(stores), await newUser(stores), await newUser(stores)];
        const dx = (await stores.dms.findOrCreatePair(me.id, x.id, ids.next(), T0)).dm;
        const dy = (await stores.dms.findOrCreatePair(me.id, y.id, ids.next(), T0)).dm;
        const dz = (await stores.dms.findOrCreatePair(z.id, me.id, ids.next(), T0)).dm;
        const order = async (user: string) => (await stores.dms.listForUser(user)).map((d) => d.id);
        assert.deepEqual(await order(me.id), [dz.id, dy.id, dx.id]);

        const m1 = ids.next();
        await stores.dms.touch(dx.id, m1);
        assert.deepEqual(await order(me.id), [dx.id, dz.id, dy.id]);
        const m2 = ids.next();
        await stores.dms.touch(dy.id, m2);
        assert.deepEqual(await order(me.id), [dy.id, dx.id, dz.id]);
        await stores.dms.touch(dy.id, m1); // older than the recorded one: ignored
        assert.equal((await stores.dms.load(dy.id))?.lastMessageId, m2);
        const listed = await stores.dms.listForUser(me.id);
        assert.deepEqual(listed[0]?.participantIds.length, 2);
        assert.ok(listed[0]?.participantIds.includes(y.id));
        assert.deepEqual(await order(x.id), [dx.id]);
        assert.deepEqual(await stores.dms.listForUser(ids.next()), []);
      });

      it('a DM with oneself has one participant', async () => {
        const me = await newUser(stores);
        const first = await stores.dms.findOrCreatePair(me.id, me.id, ids.next(), T0);
        const second = await stores.dms.findOrCreatePair(me.id, me.id, ids.next(), T0);
        assert.equal(first.created, true);
        assert.equal(second.created, false);
        assert.deepEqual(second.dm, first.dm);
        assert.deepEqual(first.dm.participantIds, [me.id]);
      });
    });

    describe('MessageWriter', () => {
      it('group-commits 2000 concurrent writes, all resolved and in history in order', async () => {
        const store = instrument(stores.messages);
        const writer = new MessageWriter(store);
        const channel = ids.next();
        const rows = Array.from({ length: 2000 }, (_, i) => message(channel, { content: `w${i}` }));
        // Spread over several ticks so batches form while one is in flight.
        const writes: Promise<boolean>[] = [];
        for (let i = 0; i < rows.length; i++) {
          writes.push(writer.write(rows[i]!));
          if (i % 100 === 99) await new Promise((r) => setImmediate(r));
        }
        await Promise.all(writes);
        await writer.close();
        assert.equal(store.batchSizes.reduce((s, n) => s + n, 0), 2000);
        assert.ok(store.batchSizes.length > 1 && store.batchSizes.length < 2000, `batches: ${store.batchSizes.length}`);
        assert.ok(Math.max(...store.batchSizes) > 1);
        const all = await allHistory(stores.messages, channel);
        assert.deepEqual(all.map((m) => m.id), rows.map((m) => m.id).reverse());
        assert.deepEqual(all.at(-1), rows[0]);
      });

      it('writes of one tick share a batch; maxBatch splits a long queue', async () => {
        const store = instrument(stores.messages);
        const writer = new MessageWriter(store, { maxBatch: 40 });
        const channel = ids.next();
        await Promise.all(Array.from({ length: 100 }, () => writer.write(message(channel))));
        assert.deepEqual(store.batchSizes, [40, 40, 20]);
        await Promise.all(Array.from({ length: 5 }, () => writer.write(message(channel))));
        assert.deepEqual(store.batchSizes, [40, 40, 20, 5]);
        await writer.close();
      });

      it('rejects every promise of a failed batch and continues with the next', async () => {
        const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
        const store = instrument(stores.messages, (call) => (call === 1 ? refused : undefined));
        const writer = new MessageWriter(store);
        const channel = ids.next();
        const first = Array.from({ length: 5 }, () => message(channel));
        const firstSettled = Promise.allSettled(first.map((m) => writer.write(m)));
        // Wait until the first batch is in flight, then queue the second.
        await new Promise((r) => setImmediate(r));
        const second = Array.from({ length: 5 }, () => message(channel));
        const secondWrites = second.map((m) => writer.write(m));
        const settled = await firstSettled;
        for (const s of settled) {
          assert.equal(s.status, 'rejected');
          assert.ok(s.reason instanceof StorageUnavailableError);
          assert.equal(s.reason.cause, refused);
        }
        await Promise.all(secondWrites);
        await writer.flush();
        assert.deepEqual(store.batchSizes, [5, 5]);
        const all = await allHistory(stores.messages, channel);
        assert.deepEqual(all.map((m) => m.id), second.map((m) => m.id).reverse());
      });

      it('with maxInFlight 2, sends the next batch while one commits, and still settles in write order', async () => {
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        let calls = 0;
        let committed = 0;
        const store = Object.create(stores.messages) as typeof stores.messages;
        store.insertMany = async (rows) => {
          const n = ++calls;
          if (n === 1) await gate; // the first batch's COMMIT is slow
          const out = await stores.messages.insertMany(rows);
          committed++;
          return out;
        };
        const writer = new MessageWriter(store, { maxInFlight: 2 });
        const channel = ids.next();
        const order: string[] = [];
        const track = (tag: string, p: Promise<boolean>) => p.then(() => void order.push(tag));
        const first = Array.from({ length: 3 }, (_, i) => track(`a${i}`, writer.write(message(channel))));
        await new Promise((r) => setImmediate(r));
        const second = Array.from({ length: 3 }, (_, i) => track(`b${i}`, writer.write(message(channel))));
        for (let i = 0; i < 200 && committed < 1; i++) await new Promise((r) => setTimeout(r, 5));
        assert.equal(calls, 2, 'the second batch went out while the first was in flight');
        assert.equal(committed, 1, 'the second batch committed first');
        assert.deepEqual(order, [], 'but nothing settles before the first batch');
        release();
        await Promise.all([...first, ...second]);
        assert.deepEqual(order, ['a0', 'a1', 'a2', 'b0', 'b1', 'b2']);
        await writer.close();
        assert.equal((await allHistory(stores.messages, channel)).length, 6);
      });

      it('rejects a duplicate-id batch with ConflictError and refuses writes after close', async () => {
        const writer = new MessageWriter(stores.messages);
        const channel = ids.next();
        const m = message(channel);
        await writer.write(m);
        await assert.rejects(writer.write({ ...m }), (err: unknown) => err instanceof ConflictError && err.field === 'message');
        const flushed = writer.flush();
        await writer.close();
        await flushed;
        await assert.rejects(writer.write(message(channel)), /closed/);
        assert.equal((await allHistory(stores.messages, channel)).length, 1);
      });
    });

    if (dialect.name === 'postgres') {
      it('reports durability settings', async () => {
        const d = await checkDurability(t.database.db);
        assert.equal(d.fsync, 'on');
        assert.ok(['on', 'off', 'local', 'remote_write', 'remote_apply'].includes(d.synchronousCommit));
      });
    }
  });
}

describe('storage unavailability', () => {
  it('maps a refused Postgres connection to StorageUnavailableError', async () => {
    const db = new Kysely<DB>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', max: 1 }) }),
    });
    try {
      const stores = createStores(db);
      await assert.rejects(stores.users.findById('1'), StorageUnavailableError);
      await assert.rejects(stores.messages.insertMany([message('1')]), StorageUnavailableError);
    } finally {
      await db.destroy();
    }
  });

  it('maps a closed PGlite to StorageUnavailableError', async () => {
    const database = await openDatabase({ dataDir: 'memory://' });
    const stores = createStores(database.db);
    await database.close();
    await assert.rejects(stores.users.findById('1'), StorageUnavailableError);
  });
});

describe('pglite on disk', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'guildhall-pglite-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the data directory, persists across reopen and migrates once', async () => {
    const dataDir = join(dir, 'nested', 'data');
    const first = await openDatabase({ dataDir });
    const channel = ids.next();
    const rows = Array.from({ length: 3 }, () => message(channel));
    await createStores(first.db).messages.insertMany(rows);
    await first.close();
    await first.close(); // idempotent

    const second = await openDatabase({ dataDir });
    try {
      const history = await createStores(second.db).messages.history(channel, { before: null, limit: 10 });
      assert.deepEqual(history, [...rows].reverse());
      const migrations = await second.db
        .selectFrom('kysely_migration' as never)
        .select('name' as never)
        .execute();
      assert.deepEqual(migrations.map((m) => (m as { name: string }).name).sort(), Object.keys(MIGRATIONS).sort());
    } finally {
      await second.close();
    }
  });
});
