/**
 * People over real sockets, on both backends (Postgres + Redis, PGlite + memory store): profiles
 * and search, friends and blocks, presence with a short grace period, group DMs and the
 * conversation list — with several users and several sessions (tabs and logins) per user.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { auth, GuildhallClient, GuildhallError, GuildhallHttpError, users } from '../../protocol/client/index.ts';
import { DmType, ErrorCode, EventType, MessageType, Method, RelationshipType } from '../../protocol/opcodes.ts';
import type { Dm, Events, Presence } from '../../protocol/types.ts';
import { BACKENDS, signUp, startTestServer, type TestServer, type TestUser } from '../support/test-server.ts';

const GRACE_MS = 400;
const PASSWORD = 'correct horse battery staple';

const code = (c: number) => (e: unknown) => e instanceof GuildhallError && e.code === c;

/** Records every event of `type` a client receives. */
function record<T extends keyof Events>(client: GuildhallClient, type: T): Events[T][] {
  const seen: Events[T][] = [];
  client.on(type, (d) => seen.push(d));
  return seen;
}

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A second login (auth session) of the same account: its own device, its own presence status. */
async function secondLogin(server: TestServer, u: TestUser): Promise<GuildhallClient> {
  const tokens = await auth.login(server.httpUrl, { email: `${u.user.nickname}@example.test`, password: PASSWORD });
  return GuildhallClient.connect({ url: server.gatewayUrl, token: tokens.accessToken });
}

async function befriend(a: GuildhallClient, b: GuildhallClient, bUser: TestUser): Promise<void> {
  const onB = b.waitFor(EventType.RELATIONSHIP_ADD, (r) => r.type === RelationshipType.INCOMING);
  await a.request(Method.RELATIONSHIP_REQUEST, { userId: bUser.user.id });
  const incoming = await onB;
  await b.request(Method.RELATIONSHIP_ACCEPT, { userId: incoming.user.id });
}

for (const backend of BACKENDS) {
  describe(`people (${backend})`, () => {
    let server: TestServer;
    let alice: TestUser, bob: TestUser, carol: TestUser, dave: TestUser;
    let a1: GuildhallClient, a2: GuildhallClient, b1: GuildhallClient, b2: GuildhallClient, c1: GuildhallClient, d1: GuildhallClient;
    const open: GuildhallClient[] = [];
    const track = <T extends GuildhallClient>(c: T) => (open.push(c), c);

    before(async () => {
      server = await startTestServer(backend, { PRESENCE_GRACE_MS: String(GRACE_MS) });
      [alice, bob, carol, dave] = await Promise.all([signUp(server, 'alice'), signUp(server, 'bob'), signUp(server, 'carol'), signUp(server, 'dave')]);
      [a1, a2, b1, b2, c1, d1] = await Promise.all([alice.connect(), alice.connect(), bob.connect(), bob.connect(), carol.connect(), dave.connect()]);
      [a1, a2, b1, b2, c1, d1].forEach(track);
    });

    after(async () => {
      await Promise.all(open.map((c) => c.close()));
      await server?.dispose();
    });

    describe('profiles and search', () => {
      test('READY and profile.get carry my profile with email; user.get of someone else never has one', async () => {
        assert.deepEqual(a1.ready?.user, { id: alice.user.id, nickname: alice.user.nickname, email: alice.user.email, displayName: null, avatarUrl: null, bio: null, createdAt: a1.ready!.user.createdAt });
        const me = await a1.request(Method.PROFILE_GET, {});
        assert.equal(me.email, alice.user.email);
        const other = await a1.request(Method.USER_GET, { userId: bob.user.id });
        assert.equal(other.nickname, bob.user.nickname);
        assert.ok(!('email' in other));
        await assert.rejects(a1.request(Method.USER_GET, { userId: '1234' }), code(ErrorCode.UNKNOWN_USER));
      });

      test('profile.update reaches every tab (USER_UPDATE) and GET /users/@me', async () => {
        const onA2 = a2.waitFor(EventType.USER_UPDATE, (u) => u.displayName === 'Alice A.');
        const updated = await a1.request(Method.PROFILE_UPDATE, { displayName: '  Alice A.  ', bio: 'hello there', avatarUrl: 'https://cdn.example.test/a.png' });
        assert.deepEqual([updated.displayName, updated.bio, updated.avatarUrl], ['Alice A.', 'hello there', 'https://cdn.example.test/a.png']);
        assert.equal((await onA2).bio, 'hello there');
        const http = await users.me(server.httpUrl, alice.token);
        assert.deepEqual(http, updated);
        await assert.rejects(users.me(server.httpUrl, 'not-a-token'), (e: GuildhallHttpError) => e.status === 401 && e.code === ErrorCode.AUTH_FAILED);
        const cleared = await a1.request(Method.PROFILE_UPDATE, { bio: null });
        assert.equal(cleared.bio, null);
        assert.equal(cleared.displayName, 'Alice A.');
      });

      test('profile.update validates fields and keeps nicknames unique case-insensitively', async () => {
        await assert.rejects(a1.request(Method.PROFILE_UPDATE, { displayName: 'x'.repeat(33) }), code(ErrorCode.INVALID_PAYLOAD));
        await assert.rejects(a1.request(Method.PROFILE_UPDATE, { avatarUrl: 'javascript:alert(1)' }), code(ErrorCode.INVALID_PAYLOAD));
        await assert.rejects(a1.request(Method.PROFILE_UPDATE, { nickname: 'has space' }), code(ErrorCode.INVALID_PAYLOAD));
        await assert.rejects(a1.request(Method.PROFILE_UPDATE, { nickname: bob.user.nickname.toUpperCase() }), code(ErrorCode.NICKNAME_TAKEN));
        const renamed = await d1.request(Method.PROFILE_UPDATE, { nickname: `Dave${dave.user.nickname}` });
        assert.equal(renamed.nickname, `Dave${dave.user.nickname}`);
        dave.user.nickname = renamed.nickname;
      });

      test('user.search: nickname prefix, case-insensitive, limited, no emails', async () => {
        const found = await b1.request(Method.USER_SEARCH, { prefix: alice.user.nickname.slice(0, 6).toUpperCase() });
        assert.ok(found.some((u) => u.id === alice.user.id));
        for (const u of found) {
          assert.deepEqual(Object.keys(u).sort(), ['avatarUrl', 'displayName', 'id', 'nickname']);
          assert.ok(u.nickname.toLowerCase().startsWith(alice.user.nickname.slice(0, 6).toLowerCase()));
        }
        assert.equal((await b1.request(Method.USER_SEARCH, { prefix: 'a', limit: 1 })).length, 1);
        assert.deepEqual(await b1.request(Method.USER_SEARCH, { prefix: 'zzzz_nobody' }), []);
        await assert.rejects(b1.request(Method.USER_SEARCH, { prefix: 'a%' }), code(ErrorCode.INVALID_PAYLOAD));
        await assert.rejects(b1.request(Method.USER_SEARCH, { prefix: 'a', limit: 26 }), code(ErrorCode.INVALID_PAYLOAD));
      });
    });

    describe('friends', () => {
      test('request by nickname, accept: both sides hear it on every tab; list shows the friendship', async () => {
        const aAdds = record(a2, EventType.RELATIONSHIP_ADD);
        const bAdds = [record(b1, EventType.RELATIONSHIP_ADD), record(b2, EventType.RELATIONSHIP_ADD)];
        const sent = await a1.request(Method.RELATIONSHIP_REQUEST, { nickname: bob.user.nickname.toUpperCase() });
        assert.deepEqual([sent.type, sent.user.id], [RelationshipType.OUTGOING, bob.user.id]);
        await until(() => bAdds.every((l) => l.some((r) => r.type === RelationshipType.INCOMING && r.user.id === alice.user.id)), 'incoming on both bob tabs');
        assert.equal(bAdds[0]!.find((r) => r.type === RelationshipType.INCOMING)!.user.displayName, 'Alice A.');
        // Asking again changes nothing.
        assert.equal((await a1.request(Method.RELATIONSHIP_REQUEST, { userId: bob.user.id })).type, RelationshipType.OUTGOING);

        const accepted = await b2.request(Method.RELATIONSHIP_ACCEPT, { userId: alice.user.id });
        assert.equal(accepted.type, RelationshipType.FRIEND);
        await until(() => aAdds.some((r) => r.type === RelationshipType.FRIEND) && bAdds.every((l) => l.some((r) => r.type === RelationshipType.FRIEND)), 'friend on all tabs');
        assert.deepEqual((await a1.request(Method.RELATIONSHIP_LIST, {})).map((r) => [r.user.id, r.type]), [[bob.user.id, RelationshipType.FRIEND]]);
        assert.deepEqual((await b1.request(Method.RELATIONSHIP_LIST, {})).map((r) => [r.user.id, r.type]), [[alice.user.id, RelationshipType.FRIEND]]);
        await assert.rejects(a1.request(Method.RELATIONSHIP_REQUEST, { userId: bob.user.id }), code(ErrorCode.ALREADY_FRIENDS));
        // A new session learns its relationships from READY.
        const b3 = track(await bob.connect());
        assert.deepEqual(b3.ready!.relationships.map((r) => [r.user.id, r.type, r.user.displayName]), [[alice.user.id, RelationshipType.FRIEND, 'Alice A.']]);
        await b3.close();
      });

      test('mutual requests become a friendship; reject, cancel and remove end relationships on both sides', async () => {
        await c1.request(Method.RELATIONSHIP_REQUEST, { userId: dave.user.id });
        const friends = await d1.request(Method.RELATIONSHIP_REQUEST, { userId: carol.user.id });
        assert.equal(friends.type, RelationshipType.FRIEND);

        const cRemoved = c1.waitFor(EventType.RELATIONSHIP_REMOVE, (r) => r.userId === dave.user.id);
        assert.equal(await d1.request(Method.RELATIONSHIP_REMOVE, { userId: carol.user.id }), null);
        await cRemoved;
        await assert.rejects(d1.request(Method.RELATIONSHIP_REMOVE, { userId: carol.user.id }), code(ErrorCode.UNKNOWN_RELATIONSHIP));

        await c1.request(Method.RELATIONSHIP_REQUEST, { userId: dave.user.id });
        const cGone = c1.waitFor(EventType.RELATIONSHIP_REMOVE, (r) => r.userId === dave.user.id);
        await d1.request(Method.RELATIONSHIP_REJECT, { userId: carol.user.id });
        await cGone;
        await c1.request(Method.RELATIONSHIP_REQUEST, { userId: dave.user.id });
        const dGone = d1.waitFor(EventType.RELATIONSHIP_REMOVE, (r) => r.userId === carol.user.id);
        await c1.request(Method.RELATIONSHIP_CANCEL, { userId: dave.user.id });
        await dGone;
        assert.deepEqual(await d1.request(Method.RELATIONSHIP_LIST, {}), []);
        await assert.rejects(c1.request(Method.RELATIONSHIP_ACCEPT, { userId: dave.user.id }), code(ErrorCode.UNKNOWN_RELATIONSHIP));
      });

      test('bad targets: yourself, nobody, both or neither of nickname and userId', async () => {
        await assert.rejects(a1.request(Method.RELATIONSHIP_REQUEST, { userId: alice.user.id }), code(ErrorCode.INVALID_PAYLOAD));
        await assert.rejects(a1.request(Method.RELATIONSHIP_REQUEST, { nickname: 'no_such_user_here' }), code(ErrorCode.UNKNOWN_USER));
        await assert.rejects(a1.request(Method.RELATIONSHIP_REQUEST, {}), code(ErrorCode.INVALID_PAYLOAD));
        await assert.rejects(a1.request(Method.RELATIONSHIP_REQUEST, { nickname: bob.user.nickname, userId: bob.user.id }), code(ErrorCode.INVALID_PAYLOAD));
        await assert.rejects(a1.request(Method.RELATIONSHIP_BLOCK, { userId: 'x' }), code(ErrorCode.INVALID_PAYLOAD));
      });
    });

    describe('blocks', () => {
      test('a block ends friendship and pending requests, stops friend requests and DMs both ways, until unblocked', async () => {
        await befriend(a1, c1, carol);
        const dm = await a1.request(Method.DM_OPEN, { userId: carol.user.id });
        await c1.request(Method.DM_SEND, { dmId: dm.id, content: 'before the block' });

        const aRemoved = [a1.waitFor(EventType.RELATIONSHIP_REMOVE, (r) => r.userId === carol.user.id), a2.waitFor(EventType.RELATIONSHIP_REMOVE, (r) => r.userId === carol.user.id)];
        const blocked = await c1.request(Method.RELATIONSHIP_BLOCK, { userId: alice.user.id });
        assert.deepEqual([blocked.type, blocked.user.id], [RelationshipType.BLOCKED, alice.user.id]);
        await Promise.all(aRemoved);
        assert.deepEqual((await a1.request(Method.RELATIONSHIP_LIST, {})).map((r) => r.user.id), [bob.user.id]);

        await assert.rejects(a1.request(Method.RELATIONSHIP_REQUEST, { userId: carol.user.id }), code(ErrorCode.BLOCKED));
        await assert.rejects(a1.request(Method.DM_SEND, { dmId: dm.id, content: 'hello?' }), code(ErrorCode.BLOCKED));
        await assert.rejects(c1.request(Method.DM_SEND, { dmId: dm.id, content: 'and back' }), code(ErrorCode.BLOCKED));
        await assert.rejects(a1.request(Method.DM_OPEN, { userId: carol.user.id }), code(ErrorCode.BLOCKED));
        await assert.rejects(a1.request(Method.DM_GROUP_CREATE, { userIds: [carol.user.id] }), code(ErrorCode.BLOCKED));

        // The blocked side cannot unblock; the blocker can.
        await assert.rejects(a1.request(Method.RELATIONSHIP_UNBLOCK, { userId: carol.user.id }), code(ErrorCode.UNKNOWN_RELATIONSHIP));
        const cUnblocked = c1.waitFor(EventType.RELATIONSHIP_REMOVE, (r) => r.userId === alice.user.id);
        assert.equal(await c1.request(Method.RELATIONSHIP_UNBLOCK, { userId: alice.user.id }), null);
        await cUnblocked;
        const sent = await a1.request(Method.DM_SEND, { dmId: dm.id, content: 'after the block' });
        assert.equal(sent.content, 'after the block');
      });

      test('blocking someone with a pending request to you makes it disappear on both sides', async () => {
        await d1.request(Method.RELATIONSHIP_REQUEST, { userId: bob.user.id });
        await b1.waitFor(EventType.RELATIONSHIP_ADD, (r) => r.user.id === dave.user.id).catch(() => null);
        const dGone = d1.waitFor(EventType.RELATIONSHIP_REMOVE, (r) => r.userId === bob.user.id);
        await b1.request(Method.RELATIONSHIP_BLOCK, { userId: dave.user.id });
        await dGone;
        assert.deepEqual((await b1.request(Method.RELATIONSHIP_LIST, {})).filter((r) => r.user.id === dave.user.id).map((r) => r.type), [RelationshipType.BLOCKED]);
        assert.deepEqual(await d1.request(Method.RELATIONSHIP_LIST, {}), []);
        await assert.rejects(d1.request(Method.RELATIONSHIP_REQUEST, { userId: bob.user.id }), code(ErrorCode.BLOCKED));
        await b1.request(Method.RELATIONSHIP_UNBLOCK, { userId: dave.user.id });
      });
    });

    describe('presence', () => {
      test('friends see status and custom status changes; invisible looks offline to them, not to me', async () => {
        // alice and bob are friends (see above).
        const seenByAlice = record(a1, EventType.PRESENCE_UPDATE);
        const seenByBob2 = record(b2, EventType.PRESENCE_UPDATE);
        const mine = await b1.request(Method.PRESENCE_SET, { status: 'idle', customStatus: 'lunch' });
        assert.deepEqual(mine, { userId: bob.user.id, status: 'idle', customStatus: 'lunch' });
        await until(() => seenByAlice.some((p) => p.userId === bob.user.id && p.status === 'idle'), 'alice sees bob idle');
        const p = seenByAlice.find((x) => x.userId === bob.user.id && x.status === 'idle')!;
        assert.equal(p.customStatus, 'lunch');
        assert.equal(p.user?.nickname, bob.user.nickname);
        await until(() => seenByBob2.some((x) => x.userId === bob.user.id && x.status === 'idle'), "bob's other tab sees it");

        await b1.request(Method.PRESENCE_SET, { status: 'invisible' });
        await until(() => seenByAlice.some((x) => x.userId === bob.user.id && x.status === 'offline'), 'alice sees bob offline');
        assert.equal(seenByAlice.find((x) => x.userId === bob.user.id && x.status === 'offline')!.customStatus, null, 'no custom status while offline');
        await until(() => seenByBob2.some((x) => x.status === 'invisible'), 'bob sees himself invisible');
        assert.ok(!seenByAlice.some((x) => x.status === 'invisible'));

        // A new tab of alice gets bob as offline (left out of READY); of bob, himself as invisible.
        const a3 = track(await alice.connect());
        assert.ok(!a3.ready!.presences.some((x) => x.userId === bob.user.id));
        const b3 = track(await bob.connect());
        assert.deepEqual(b3.ready!.presences.find((x) => x.userId === bob.user.id), { userId: bob.user.id, status: 'invisible', customStatus: 'lunch' });
        await b1.request(Method.PRESENCE_SET, { status: 'online', customStatus: null });
        await until(() => seenByAlice.some((x) => x.userId === bob.user.id && x.status === 'online' && x.customStatus === null), 'bob back online');
        const a4 = track(await alice.connect());
        assert.deepEqual(a4.ready!.presences.find((x) => x.userId === bob.user.id), { userId: bob.user.id, status: 'online', customStatus: null });
        await Promise.all([a3.close(), a4.close(), b3.close()]);
      });

      test('most available status wins across logins: one device dnd, another online → online', async () => {
        const seenByAlice = record(a1, EventType.PRESENCE_UPDATE);
        const bobPhone = track(await secondLogin(server, bob));
        await bobPhone.request(Method.PRESENCE_SET, { status: 'dnd' });
        await sleep(100);
        assert.ok(!seenByAlice.some((p) => p.userId === bob.user.id && p.status === 'dnd'), 'the desktop is still online');
        await b1.request(Method.PRESENCE_SET, { status: 'idle' });
        await until(() => seenByAlice.some((p) => p.userId === bob.user.id && p.status === 'idle'), 'bob idle (idle beats dnd)');
        await bobPhone.close();
        await b1.request(Method.PRESENCE_SET, { status: 'online' });
        await until(() => seenByAlice.some((p) => p.userId === bob.user.id && p.status === 'online'), 'bob online');
      });

      test('a reload within the grace period does not flap; leaving goes offline after it', async () => {
        const erin = await signUp(server, 'erin');
        const e1 = track(await erin.connect());
        await befriend(e1, a1, alice);
        await sleep(100); // the new friend's current presence arrives right after the friendship
        const seen = record(a1, EventType.PRESENCE_UPDATE);
        const erinUpdates = () => seen.filter((p) => p.userId === erin.user.id).map((p) => p.status);

        await e1.close();
        await sleep(GRACE_MS / 4);
        const e2 = track(await erin.connect());
        await sleep(GRACE_MS * 2);
        assert.deepEqual(erinUpdates(), [], 'no offline/online flap across the reload');

        const started = Date.now();
        await e2.close();
        await until(() => erinUpdates().includes('offline'), 'erin offline', GRACE_MS * 10);
        assert.ok(Date.now() - started >= GRACE_MS * 0.9, 'not before the grace period');
        const e3 = track(await erin.connect());
        await until(() => erinUpdates().at(-1) === 'online', 'erin online again');
        await e3.close();
      });

      test('members of a shared guild see presence through the guild; READY lists online members', async () => {
        const guild = await c1.request(Method.GUILD_CREATE, { name: 'Presence Hall' });
        const invite = await c1.request(Method.INVITE_CREATE, { guildId: guild.id });
        await d1.request(Method.INVITE_JOIN, { code: invite.code });
        const seenByCarol = record(c1, EventType.PRESENCE_UPDATE);
        await d1.request(Method.PRESENCE_SET, { status: 'dnd', customStatus: 'focus' });
        await until(() => seenByCarol.some((p) => p.userId === dave.user.id && p.status === 'dnd' && p.customStatus === 'focus'), 'carol sees dave dnd');
        const c2 = track(await carol.connect());
        assert.deepEqual(c2.ready!.presences.find((p: Presence) => p.userId === dave.user.id), { userId: dave.user.id, status: 'dnd', customStatus: 'focus' });
        await c2.close();
        // A profile change reaches guild members through presence (with the new summary).
        await d1.request(Method.PROFILE_UPDATE, { displayName: 'Dave D.' });
        await until(() => seenByCarol.some((p) => p.userId === dave.user.id && p.user?.displayName === 'Dave D.'), 'carol sees dave renamed');
        await d1.request(Method.PRESENCE_SET, { status: 'online', customStatus: null });
      });

      test('IDENTIFY with a status: a login comes online invisible without ever showing online', async () => {
        const ivy = await signUp(server, 'ivy');
        const i0 = track(await ivy.connect());
        await befriend(i0, a1, alice);
        const seenByAlice = record(a1, EventType.PRESENCE_UPDATE);
        await i0.close();
        await until(() => seenByAlice.some((p) => p.userId === ivy.user.id && p.status === 'offline'), 'ivy offline', GRACE_MS * 10);
        seenByAlice.length = 0;

        const i1 = track(await GuildhallClient.connect({ url: server.gatewayUrl, token: ivy.token, status: 'invisible' }));
        const mine = record(i1, EventType.PRESENCE_UPDATE);
        await until(() => mine.some((p) => p.userId === ivy.user.id && p.status === 'invisible'), 'ivy sees herself invisible');
        const i2 = track(await ivy.connect()); // the same login, no status: it follows the login
        await sleep(200);
        assert.deepEqual(seenByAlice.filter((p) => p.userId === ivy.user.id), [], 'alice never saw ivy come online');
        await i2.request(Method.PRESENCE_SET, { status: 'online' });
        await until(() => seenByAlice.some((p) => p.userId === ivy.user.id && p.status === 'online'), 'alice sees ivy once she chooses online');
        await Promise.all([i1.close(), i2.close()]);
      });

      test('joining a guild: the joiner gets the presence of members, members get that of the joiner; invisible stays hidden', async () => {
        const frank = await signUp(server, 'frank');
        const gina = await signUp(server, 'gina');
        const [f1, g1] = [track(await frank.connect()), track(await gina.connect())];
        await g1.request(Method.PRESENCE_SET, { status: 'idle', customStatus: 'away' });
        const guild = await c1.request(Method.GUILD_CREATE, { name: 'Join Hall' });
        const invite = await c1.request(Method.INVITE_CREATE, { guildId: guild.id });
        await g1.request(Method.INVITE_JOIN, { code: invite.code });
        await f1.request(Method.PRESENCE_SET, { status: 'invisible' });

        const seenByFrank = record(f1, EventType.PRESENCE_UPDATE);
        const seenByCarol = record(c1, EventType.PRESENCE_UPDATE);
        const seenByGina = record(g1, EventType.PRESENCE_UPDATE);
        await f1.request(Method.INVITE_JOIN, { code: invite.code });
        await until(() => seenByFrank.some((p) => p.userId === gina.user.id), 'frank gets gina');
        await until(() => seenByFrank.some((p) => p.userId === carol.user.id), 'frank gets carol');
        assert.deepEqual(seenByFrank.find((p) => p.userId === gina.user.id), { userId: gina.user.id, status: 'idle', customStatus: 'away' });
        await sleep(100);
        assert.ok(!seenByCarol.some((p) => p.userId === frank.user.id), 'an invisible joiner is not announced');

        // Visible again, frank leaves and rejoins: this time the members hear of him at the join.
        await f1.request(Method.PRESENCE_SET, { status: 'dnd' });
        await until(() => seenByGina.some((p) => p.userId === frank.user.id && p.status === 'dnd'), 'gina sees frank dnd');
        await f1.request(Method.GUILD_LEAVE, { guildId: guild.id });
        seenByGina.length = 0;
        const invite2 = await c1.request(Method.INVITE_CREATE, { guildId: guild.id });
        await f1.request(Method.INVITE_JOIN, { code: invite2.code });
        await until(() => seenByGina.some((p) => p.userId === frank.user.id && p.status === 'dnd'), 'gina is told frank is here, dnd');
        await Promise.all([f1.close(), g1.close()]);
      });
    });

    describe('group DMs', () => {
      let group: Dm;

      before(async () => {
        // alice–bob are friends; alice–carol were friends before the block; make alice friends with carol and dave.
        await befriend(a1, c1, carol);
        await befriend(a1, d1, dave);
      });

      test('create reaches every participant on every tab and subscribes them', async () => {
        const waits = [a2, b1, b2, c1].map((c) => c.waitFor(EventType.DM_CREATE, (d) => d.type === DmType.GROUP));
        group = await a1.request(Method.DM_GROUP_CREATE, { userIds: [bob.user.id, carol.user.id, bob.user.id], name: 'Trio' });
        assert.deepEqual([group.type, group.name, group.ownerId], [DmType.GROUP, 'Trio', alice.user.id]);
        assert.deepEqual(group.recipients.map((u) => u.id), [alice.user.id, bob.user.id, carol.user.id]);
        for (const d of await Promise.all(waits)) assert.equal(d.id, group.id);
        const onB2 = b2.waitFor(EventType.MESSAGE_CREATE, (m) => m.channelId === group.id);
        const onC1 = c1.waitFor(EventType.MESSAGE_CREATE, (m) => m.channelId === group.id);
        await a1.request(Method.DM_SEND, { dmId: group.id, content: 'hi all' });
        assert.equal((await onB2).content, 'hi all');
        assert.equal((await onC1).content, 'hi all');
      });

      test('creation rules: friends only, at most 10 people', async () => {
        const stranger = await signUp(server, 'strng');
        await assert.rejects(a1.request(Method.DM_GROUP_CREATE, { userIds: [stranger.user.id] }), code(ErrorCode.NOT_FRIENDS));
        await assert.rejects(a1.request(Method.DM_GROUP_CREATE, { userIds: [alice.user.id] }), code(ErrorCode.INVALID_PAYLOAD));
        await assert.rejects(a1.request(Method.DM_GROUP_CREATE, { userIds: Array.from({ length: 10 }, (_, i) => String(1000 + i)) }), code(ErrorCode.INVALID_PAYLOAD));
      });

      test('a group DM holds at most 10 people', async () => {
        const owner = await signUp(server, 'own');
        const o1 = track(await owner.connect());
        const friends = await Promise.all(Array.from({ length: 10 }, () => signUp(server, 'pal')));
        for (const f of friends) {
          await o1.request(Method.RELATIONSHIP_REQUEST, { userId: f.user.id });
          const c = await f.connect();
          await c.request(Method.RELATIONSHIP_ACCEPT, { userId: owner.user.id });
          await c.close();
        }
        const full = await o1.request(Method.DM_GROUP_CREATE, { userIds: friends.slice(0, 9).map((f) => f.user.id) });
        assert.equal(full.recipients.length, 10);
        await assert.rejects(o1.request(Method.DM_GROUP_ADD, { dmId: full.id, userId: friends[9]!.user.id }), code(ErrorCode.LIMIT_REACHED));
      });

      test('rename by any participant: DM_UPDATE and a typed system message', async () => {
        const update = a2.waitFor(EventType.DM_UPDATE, (d) => d.id === group.id && d.name === 'Quartet?');
        const sys = c1.waitFor(EventType.MESSAGE_CREATE, (m) => m.channelId === group.id && m.type === MessageType.DM_NAME_CHANGE);
        const renamed = await b1.request(Method.DM_GROUP_RENAME, { dmId: group.id, name: 'Quartet?' });
        assert.equal(renamed.name, 'Quartet?');
        await update;
        const m = await sys;
        assert.deepEqual([m.authorId, m.content], [bob.user.id, 'Quartet?']);
      });

      test('the owner adds a friend: they subscribe at once, see the system message and can talk', async () => {
        await assert.rejects(b1.request(Method.DM_GROUP_ADD, { dmId: group.id, userId: dave.user.id }), code(ErrorCode.FORBIDDEN));
        const daveGets = d1.waitFor(EventType.DM_CREATE, (d) => d.id === group.id);
        const daveSeesSystem = d1.waitFor(EventType.MESSAGE_CREATE, (m) => m.channelId === group.id && m.type === MessageType.DM_RECIPIENT_ADD);
        const othersUpdate = b1.waitFor(EventType.DM_UPDATE, (d) => d.id === group.id && d.recipients.length === 4);
        const added = await a1.request(Method.DM_GROUP_ADD, { dmId: group.id, userId: dave.user.id });
        assert.equal(added.recipients.length, 4);
        assert.equal((await daveGets).name, 'Quartet?');
        const sys = await daveSeesSystem;
        assert.deepEqual([sys.authorId, sys.mentions.users], [alice.user.id, [dave.user.id]]);
        await othersUpdate;
        const onA1 = a1.waitFor(EventType.MESSAGE_CREATE, (m) => m.channelId === group.id && m.authorId === dave.user.id);
        await d1.request(Method.DM_SEND, { dmId: group.id, content: 'thanks!' });
        await onA1;
        await assert.rejects(a1.request(Method.DM_GROUP_ADD, { dmId: group.id, userId: dave.user.id }), code(ErrorCode.ALREADY_MEMBER));
        const stranger = await signUp(server, 'strng');
        await assert.rejects(a1.request(Method.DM_GROUP_ADD, { dmId: group.id, userId: stranger.user.id }), code(ErrorCode.NOT_FRIENDS));
      });

      test('the owner removes someone: they lose the DM at once; others get DM_UPDATE and a system message', async () => {
        const daveDeleted = d1.waitFor(EventType.DM_DELETE, (d) => d.id === group.id);
        const sys = b1.waitFor(EventType.MESSAGE_CREATE, (m) => m.channelId === group.id && m.type === MessageType.DM_RECIPIENT_REMOVE);
        await assert.rejects(c1.request(Method.DM_GROUP_REMOVE, { dmId: group.id, userId: dave.user.id }), code(ErrorCode.FORBIDDEN));
        const after = await a1.request(Method.DM_GROUP_REMOVE, { dmId: group.id, userId: dave.user.id });
        assert.ok(!after.recipients.some((u) => u.id === dave.user.id));
        await daveDeleted;
        assert.deepEqual((await sys).mentions.users, [dave.user.id]);
        const leaked = record(d1, EventType.MESSAGE_CREATE);
        await a1.request(Method.DM_SEND, { dmId: group.id, content: 'dave is gone' });
        await assert.rejects(d1.request(Method.DM_SEND, { dmId: group.id, content: 'still here?' }), code(ErrorCode.NOT_MEMBER));
        await sleep(100);
        assert.deepEqual(leaked.filter((m) => m.channelId === group.id), []);
      });

      test('the owner leaves: ownership passes on, the leaver is unsubscribed', async () => {
        const aliceDeleted = a2.waitFor(EventType.DM_DELETE, (d) => d.id === group.id);
        const update = b2.waitFor(EventType.DM_UPDATE, (d) => d.id === group.id && d.ownerId === bob.user.id);
        const ownerMsg = c1.waitFor(EventType.MESSAGE_CREATE, (m) => m.channelId === group.id && m.type === MessageType.DM_OWNER_CHANGE);
        assert.equal(await a1.request(Method.DM_GROUP_LEAVE, { dmId: group.id }), null);
        await aliceDeleted;
        assert.deepEqual((await update).recipients.map((u) => u.id), [bob.user.id, carol.user.id]);
        assert.deepEqual((await ownerMsg).mentions.users, [bob.user.id]);
        await assert.rejects(a1.request(Method.DM_HISTORY, { dmId: group.id }), code(ErrorCode.NOT_MEMBER));
        const history = await b1.request(Method.DM_HISTORY, { dmId: group.id });
        assert.deepEqual(history.slice(0, 2).map((m) => m.type), [MessageType.DM_OWNER_CHANGE, MessageType.DM_RECIPIENT_LEAVE]);
        // Direct DMs cannot be left or renamed.
        const direct = await b1.request(Method.DM_OPEN, { userId: carol.user.id });
        await assert.rejects(b1.request(Method.DM_GROUP_LEAVE, { dmId: direct.id }), code(ErrorCode.FORBIDDEN));
      });
    });

    describe('conversation list', () => {
      test('dm.list: newest activity first, with the last message and unread state', async () => {
        const fresh = await signUp(server, 'list');
        const f1 = track(await fresh.connect());
        await befriend(f1, a1, alice);
        await befriend(f1, b1, bob);
        const withAlice = await f1.request(Method.DM_OPEN, { userId: alice.user.id });
        const withBob = await f1.request(Method.DM_OPEN, { userId: bob.user.id });
        const group = await f1.request(Method.DM_GROUP_CREATE, { userIds: [alice.user.id, bob.user.id] });
        await a1.request(Method.DM_SEND, { dmId: withAlice.id, content: 'ping from alice' });
        const last = await f1.request(Method.DM_SEND, { dmId: withBob.id, content: 'my own message' });

        const list = await f1.request(Method.DM_LIST, {});
        assert.deepEqual(list.map((c) => c.dm.id), [withBob.id, withAlice.id, group.id]);
        assert.deepEqual(list.map((c) => c.lastMessage?.content ?? null), ['my own message', 'ping from alice', null]);
        assert.deepEqual(list.map((c) => c.unread), [false, true, false]);
        assert.equal(list[0]!.dm.lastMessageId, last.id);
        assert.equal(list[1]!.dm.recipients.length, 2);

        const page = await f1.request(Method.DM_LIST, { before: list[0]!.lastMessage!.id, limit: 1 });
        assert.deepEqual(page.map((c) => c.dm.id), [withAlice.id]);

        await f1.request(Method.MESSAGE_ACK, { dmId: withAlice.id, messageId: list[1]!.lastMessage!.id });
        const acked = await f1.request(Method.DM_LIST, {});
        assert.equal(acked.find((c) => c.dm.id === withAlice.id)!.unread, false);
        assert.equal(acked.find((c) => c.dm.id === withAlice.id)!.lastReadId, list[1]!.lastMessage!.id);
      });
    });
  });
}
