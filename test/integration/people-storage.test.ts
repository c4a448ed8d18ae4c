/**
 * People storage (profiles, nickname search, relationships, group DMs) on real Postgres and PGlite,
 * plus the EXPLAIN check that nickname prefix search is an index range scan on Postgres.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { SnowflakeGenerator } from '../../protocol/ids.ts';
import { nicknamePrefixQuery } from '../../storage/people/kysely-profile-store.ts';
import type { Stores } from '../../storage/ports.ts';
import { ConflictError, type UserRecord } from '../../storage/records.ts';
import { DIALECTS, type TestDatabase } from '../support/databases.ts';

const ids = new SnowflakeGenerator(9);
const T0 = Date.UTC(2026, 3, 1, 12, 0, 0);
let n = 0;

async function newUser(stores: Stores, nickname = `pu${++n}_${process.pid}`): Promise<UserRecord> {
  return stores.users.create({ id: ids.next(), email: `${nickname}@example.com`, nickname, passwordHash: 'x', createdAt: T0 });
}

for (const dialect of DIALECTS) {
  describe(`people storage (${dialect.name})`, () => {
    let t: TestDatabase;
    let stores: Stores;
    before(async () => {
      t = await dialect.open();
      stores = t.stores;
    });
    after(async () => t?.dispose());

    describe('profiles', () => {
      it('reads and patches a profile without ever exposing the email', async () => {
        const u = await newUser(stores);
        const p = await stores.profiles.get(u.id);
        assert.deepEqual(p, { id: u.id, nickname: u.nickname, displayName: null, bio: null, avatarUrl: null, createdAt: T0 });
        const updated = await stores.profiles.update(u.id, { displayName: 'Pat', bio: 'hi', avatarUrl: 'https://x.test/a.png' });
        assert.deepEqual(updated, { ...p, displayName: 'Pat', bio: 'hi', avatarUrl: 'https://x.test/a.png' });
        assert.deepEqual(await stores.profiles.update(u.id, { bio: null }), { ...updated, bio: null });
        assert.ok(!('email' in updated!));
        assert.equal(await stores.profiles.update(ids.next(), { bio: 'x' }), null);
        assert.deepEqual((await stores.profiles.getMany([u.id, u.id, ids.next()])).map((x) => x.id), [u.id]);
      });

      it('nicknames are unique case-insensitively, also on rename', async () => {
        const a = await newUser(stores, `Mixed${process.pid}`);
        const b = await newUser(stores);
        assert.equal((await stores.profiles.findByNickname(`mIXED${process.pid}`))?.id, a.id);
        await assert.rejects(stores.profiles.update(b.id, { nickname: `MIXED${process.pid}` }), (e: ConflictError) => e instanceof ConflictError && e.field === 'nickname');
        const renamed = await stores.profiles.update(a.id, { nickname: `mixed${process.pid}` });
        assert.equal(renamed?.nickname, `mixed${process.pid}`);
      });

      it('prefix search: case-insensitive, ordered, limited, LIKE wildcards taken literally', async () => {
        const tag = `zq${process.pid}`;
        for (const nick of [`${tag}_b`, `${tag}_A`, `${tag}xa`, `${tag}.c`, `${tag}_c`]) await newUser(stores, nick);
        const search = async (prefix: string, limit = 10) => (await stores.profiles.searchByNicknamePrefix(prefix, limit)).map((p) => p.nickname);
        assert.deepEqual(await search(`${tag}_`), [`${tag}_A`, `${tag}_b`, `${tag}_c`]);
        assert.deepEqual(await search(tag.toUpperCase(), 2), [`${tag}.c`, `${tag}_A`]);
        assert.deepEqual(await search(`${tag}%`), []);
        assert.deepEqual(await search(`${tag}x`), [`${tag}xa`]);
        const rows = await stores.profiles.searchByNicknamePrefix(tag, 1);
        assert.deepEqual(Object.keys(rows[0]!).sort(), ['avatarUrl', 'bio', 'createdAt', 'displayName', 'id', 'nickname']);
      });
    });

    describe('relationships', () => {
      it('transition writes both sides atomically and keeps the time of unchanged rows', async () => {
        const [a, b] = [await newUser(stores), await newUser(stores)];
        const sent = await stores.relationships.transition(a.id, b.id, T0, (cur) => {
          assert.deepEqual(cur, { ab: null, ba: null, countA: 0, countB: 0 });
          return { ab: 4, ba: 3 };
        });
        assert.deepEqual(sent, { ab: { userId: a.id, otherId: b.id, type: 4, createdAt: T0 }, ba: { userId: b.id, otherId: a.id, type: 3, createdAt: T0 } });
        const friends = await stores.relationships.transition(b.id, a.id, T0 + 5, () => ({ ab: 1, ba: 1 }));
        assert.equal(friends.ab?.createdAt, T0 + 5);
        assert.deepEqual(await stores.relationships.pair(a.id, b.id), { ab: 1, ba: 1 });
        assert.deepEqual(await stores.relationships.friendIds(a.id), [b.id]);
        const blocked = await stores.relationships.transition(a.id, b.id, T0 + 9, (cur) => ({ ab: 2, ba: cur.ba === 2 ? 2 : null }));
        assert.deepEqual(blocked, { ab: { userId: a.id, otherId: b.id, type: 2, createdAt: T0 + 9 }, ba: null });
        assert.deepEqual(await stores.relationships.list(b.id), []);
        assert.deepEqual((await stores.relationships.list(a.id)).map((r) => r.type), [2]);
        assert.equal((await stores.relationships.get(a.id, b.id))?.type, 2);
      });

      it('a decision that throws changes nothing; concurrent opposite requests serialise', async () => {
        const [a, b] = [await newUser(stores), await newUser(stores)];
        await assert.rejects(stores.relationships.transition(a.id, b.id, T0, () => { throw new Error('no'); }), /no/);
        assert.deepEqual(await stores.relationships.pair(a.id, b.id), { ab: null, ba: null });
        // Both request at once: the second sees the first's request and turns it into a friendship.
        const request = (from: string, to: string) =>
          stores.relationships.transition(from, to, T0, (cur) => (cur.ab === 3 ? { ab: 1, ba: 1 } : cur.ab === null ? { ab: 4, ba: 3 } : cur));
        await Promise.all([request(a.id, b.id), request(b.id, a.id)]);
        assert.deepEqual(await stores.relationships.pair(a.id, b.id), { ab: 1, ba: 1 });
      });

      it('counts friends and pending requests, not blocks', async () => {
        const [a, b, c, d] = [await newUser(stores), await newUser(stores), await newUser(stores), await newUser(stores)];
        await stores.relationships.transition(a.id, b.id, T0, () => ({ ab: 1, ba: 1 }));
        await stores.relationships.transition(a.id, c.id, T0, () => ({ ab: 4, ba: 3 }));
        await stores.relationships.transition(a.id, d.id, T0, () => ({ ab: 2, ba: null }));
        await stores.relationships.transition(a.id, d.id, T0, (cur) => {
          assert.equal(cur.countA, 2);
          return cur;
        });
      });

      it('friendsOutside and guildMemberIds', async () => {
        const [a, b, c] = [await newUser(stores), await newUser(stores), await newUser(stores)];
        await stores.relationships.transition(a.id, b.id, T0, () => ({ ab: 1, ba: 1 }));
        await stores.relationships.transition(a.id, c.id, T0, () => ({ ab: 1, ba: 1 }));
        const g = ids.next();
        await stores.guilds.create(
          { id: g, name: 'G', ownerId: a.id, description: null, iconUrl: null, systemChannelId: null, createdAt: T0 },
          { id: g, guildId: g, name: '@everyone', color: 0, permissions: '0', position: 0, mentionable: false, hoist: false, createdAt: T0 },
          [],
          { guildId: g, userId: a.id, joinedAt: T0, nickname: null, timeoutUntil: null, roleIds: [] },
        );
        await stores.guilds.addMember({ guildId: g, userId: b.id, joinedAt: T0, nickname: null, timeoutUntil: null, roleIds: [] });
        assert.deepEqual(await stores.relationships.friendsOutside(a.id, [g]), [c.id]);
        assert.deepEqual((await stores.relationships.friendsOutside(a.id, [])).sort(), [b.id, c.id].sort());
        assert.deepEqual((await stores.relationships.guildMemberIds([g, ids.next()], 10)).sort(), [a.id, b.id].sort());
        assert.equal((await stores.relationships.guildMemberIds([g], 1)).length, 1);
        assert.deepEqual(await stores.relationships.guildMemberIds([], 10), []);
      });
    });

    describe('group DMs', () => {
      it('create, add, remove, rename; participants keep joining order', async () => {
        const [o, x, y] = [await newUser(stores), await newUser(stores), await newUser(stores)];
        const id = ids.next();
        await stores.dms.createGroup({ id, createdAt: T0, participantIds: [o.id, y.id, x.id], lastMessageId: null, type: 3, name: null, ownerId: o.id });
        assert.deepEqual(await stores.dms.load(id), { id, createdAt: T0, participantIds: [o.id, y.id, x.id], lastMessageId: null, type: 3, name: null, ownerId: o.id });
        const z = await newUser(stores);
        assert.equal(await stores.dms.addParticipant(id, z.id, T0 + 100), true);
        assert.equal(await stores.dms.addParticipant(id, z.id, T0 + 100), false);
        assert.equal(await stores.dms.removeParticipant(id, y.id), true);
        assert.equal(await stores.dms.removeParticipant(id, y.id), false);
        await stores.dms.updateGroup(id, { name: 'crew', ownerId: x.id });
        const dm = await stores.dms.load(id);
        assert.deepEqual([dm?.participantIds, dm?.name, dm?.ownerId], [[o.id, x.id, z.id], 'crew', x.id]);
        assert.equal(await stores.dms.findPair(o.id, x.id), null);
      });

      it('listPage orders by newest message (deleted ones ignored), then DM id, with a cursor', async () => {
        const me = await newUser(stores);
        const [x, y] = [await newUser(stores), await newUser(stores)];
        const dx = (await stores.dms.findOrCreatePair(me.id, x.id, ids.next(), T0)).dm;
        const dy = (await stores.dms.findOrCreatePair(me.id, y.id, ids.next(), T0)).dm;
        const group = ids.next();
        await stores.dms.createGroup({ id: group, createdAt: T0, participantIds: [me.id, x.id], lastMessageId: null, type: 3, name: 'g', ownerId: me.id });
        assert.equal((await stores.dms.findPair(x.id, me.id))?.id, dx.id);
        const msg = (channelId: string) => ({
          id: ids.next(), type: 0, mentions: null, channelId, guildId: null, authorId: me.id, content: 'hi', nonce: null, createdAt: T0,
          editedAt: null, replyToId: null, pinnedAt: null,
        });
        const m1 = msg(dx.id);
        await stores.messages.insertMany([m1]);
        const page = await stores.dms.listPage(me.id, { before: null, limit: 10 });
        assert.deepEqual(page.map((p) => p.dm.id), [dx.id, group, dy.id]);
        assert.deepEqual(page.map((p) => p.lastMessageId), [m1.id, null, null]);
        assert.deepEqual(page.map((p) => p.activityId), [m1.id, group, dy.id]);
        assert.equal(page[1]!.dm.type, 3);
        const rest = await stores.dms.listPage(me.id, { before: page[0]!.activityId, limit: 1 });
        assert.deepEqual(rest.map((p) => p.dm.id), [group]);
        await stores.messages.delete(dx.id, m1.id);
        assert.deepEqual((await stores.dms.listPage(me.id, { before: null, limit: 10 })).map((p) => p.dm.id), [group, dy.id, dx.id]);
      });
    });

    describe('ready', () => {
      it('loadMany returns per user what the dedicated store methods return, in one statement', async () => {
        const [me, a, b, c, d] = [await newUser(stores), await newUser(stores), await newUser(stores), await newUser(stores), await newUser(stores)];
        await stores.profiles.update(me.id, { displayName: 'Me', bio: 'hi', avatarUrl: 'https://example.com/a.png' });
        const everyone = (g: string) => ({ id: g, guildId: g, name: '@everyone', color: 0, permissions: '0', position: 0, mentionable: false, hoist: false, createdAt: T0 });
        const member = (g: string, u: string, at: number) => ({ guildId: g, userId: u, joinedAt: at, nickname: null, timeoutUntil: null, roleIds: [] });
        const guild = (g: string, owner: string) => ({ id: g, name: 'G', ownerId: owner, description: null, iconUrl: null, systemChannelId: null, createdAt: T0 });
        const [g1, g2] = [ids.next(), ids.next()];
        await stores.guilds.create(guild(g1, a.id), everyone(g1), [], member(g1, a.id, T0));
        await stores.guilds.create(guild(g2, b.id), everyone(g2), [], member(g2, b.id, T0));
        await stores.guilds.addMember(member(g2, me.id, T0 + 1));
        await stores.guilds.addMember(member(g1, me.id, T0 + 2));
        await stores.guilds.addMember(member(g1, c.id, T0 + 3));
        const pair = (await stores.dms.findOrCreatePair(me.id, a.id, ids.next(), T0)).dm;
        const group = ids.next();
        await stores.dms.createGroup({ id: group, createdAt: T0 + 1, participantIds: [me.id, c.id, b.id], lastMessageId: null, type: 3, name: 'crew', ownerId: me.id });
        await stores.dms.findOrCreatePair(b.id, c.id, ids.next(), T0); // not mine
        await stores.dms.touch(pair.id, ids.next());
        await stores.readStates.ack(me.id, pair.id, ids.next());
        await stores.readStates.addMentions(g1, [me.id]);
        await stores.mutes.set({ userId: me.id, targetId: g2, targetType: 1, until: null });
        await stores.mutes.set({ userId: me.id, targetId: group, targetType: 2, until: T0 + 60_000 });
        await stores.relationships.transition(me.id, a.id, T0 + 5, () => ({ ab: 1, ba: 1 }));
        await stores.relationships.transition(me.id, d.id, T0 + 6, () => ({ ab: 2, ba: null }));
        await stores.relationships.transition(c.id, me.id, T0 + 7, () => ({ ab: 4, ba: 3 }));

        const all = await stores.ready.loadMany([me.id, a.id, ids.next(), me.id], { membersPerGuild: 2, dmLimit: 1 });
        assert.deepEqual([...all.keys()].sort(), [me.id, a.id].sort(), 'unknown ids are absent');
        assert.deepEqual(all.get(a.id)?.guildIds, await stores.guilds.listGuildIdsOfUser(a.id));
        assert.deepEqual(all.get(a.id)?.relationships.map((r) => r.record), await stores.relationships.list(a.id));
        const rec = all.get(me.id);
        assert.ok(rec);
        const byKey = <T>(xs: T[], key: (x: T) => string) => [...xs].sort((x, y) => key(x).localeCompare(key(y)));
        assert.deepEqual(rec.profile, await stores.profiles.get(me.id));
        assert.equal(rec.email, me.email);
        assert.deepEqual(rec.guildIds, await stores.guilds.listGuildIdsOfUser(me.id));
        assert.deepEqual(rec.guildIds, [g2, g1]);
        assert.deepEqual(rec.dms, await stores.dms.listForUser(me.id));
        assert.deepEqual(rec.dms.map((x) => x.id), [pair.id, group]);
        assert.deepEqual(rec.dms[1]!.participantIds, [me.id, c.id, b.id]);
        assert.deepEqual(byKey(rec.readStates, (r) => r.channelId), byKey(await stores.readStates.list(me.id), (r) => r.channelId));
        assert.equal(rec.readStates.length, 2);
        assert.deepEqual(byKey(rec.mutes, (m) => m.targetId), byKey(await stores.mutes.list(me.id), (m) => m.targetId));
        assert.equal(rec.mutes.length, 2);
        const rels = await stores.relationships.list(me.id);
        assert.deepEqual(rec.relationships.map((r) => r.record), rels);
        assert.deepEqual(rec.relationships.map((r) => r.profile), await Promise.all(rels.map(async (r) => (await stores.profiles.get(r.otherId))!)));
        assert.deepEqual(rec.guildMemberIds, await stores.relationships.guildMemberIds(rec.guildIds, 2));
        assert.deepEqual(byKey(rec.dmProfiles, (p) => p.id), byKey(await stores.profiles.getMany([me.id, a.id]), (p) => p.id));

        const none = (await stores.ready.loadMany([me.id], { membersPerGuild: 0, dmLimit: 0 })).get(me.id);
        assert.deepEqual([none?.guildMemberIds, none?.dmProfiles], [[], []]);
        const fresh = await newUser(stores);
        const empty = (await stores.ready.loadMany([fresh.id], { membersPerGuild: 5, dmLimit: 5 })).get(fresh.id);
        assert.deepEqual(
          { ...empty, profile: null },
          { profile: null, email: fresh.email, guildIds: [], dms: [], readStates: [], mutes: [], relationships: [], guildMemberIds: [], dmProfiles: [] },
        );
        assert.equal((await stores.ready.loadMany([ids.next()], { membersPerGuild: 5, dmLimit: 5 })).size, 0);
        assert.equal((await stores.ready.loadMany([], { membersPerGuild: 5, dmLimit: 5 })).size, 0);
      });
    });

    if (dialect.name === 'postgres') {
      it('EXPLAIN: nickname prefix search is an index range scan on users_nickname_prefix_idx', async () => {
        const db = t.database.db;
        await sql`insert into users (id, email, nickname, password_hash, created_at)
          select 1000000000 + g, 'bulk' || g || '@example.com', 'bulk_' || md5(g::text), 'x', now() from generate_series(1, 20000) g`.execute(db);
        await sql`analyze users`.execute(db);
        const explain = async (prefix: string) => (await nicknamePrefixQuery(db, prefix, 10).explain()).map((r) => String(r['QUERY PLAN'])).join('\n');
        // A selective prefix: the index range given by the prefix, then a sort of the few matches.
        const narrow = await explain('bulk_ab');
        assert.match(narrow, /Index (Only )?Scan (using|on) users_nickname_prefix_idx/, narrow);
        assert.match(narrow, /Index Cond: .*>= 'bulk_ab'.*< 'bulk_ac'/s, narrow);
        assert.doesNotMatch(narrow, /Seq Scan/, narrow);
        // A prefix every row matches: the index is read in order and the LIMIT stops it after 10 rows.
        const broad = await explain('b');
        assert.match(broad, /Limit[\s\S]*Index Scan using users_nickname_prefix_idx/, broad);
        assert.doesNotMatch(broad, /Seq Scan|Sort/, broad);
        const rows = await nicknamePrefixQuery(db, 'BULK_AB', 10).execute();
        assert.ok(rows.length > 0 && rows.every((r) => r.nickname.startsWith('bulk_ab')));
      });
    }
  });
}
