/**
 * The walking skeleton end to end over real sockets, on both backends: two users register, log in,
 * create a guild, join by invite, chat in realtime and through history, then open a DM and chat.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ErrorCode, EventType, MessageType, Method } from '../../protocol/opcodes.ts';
import { GuildhallError, type GuildhallClient } from '../../protocol/client/index.ts';
import type { Guild, Message } from '../../protocol/types.ts';
import { BACKENDS, signUp, startTestServer, type TestServer, type TestUser } from '../support/test-server.ts';

for (const backend of BACKENDS) {
  describe(`messaging (${backend})`, () => {
    let server: TestServer;
    let alice: TestUser;
    let bob: TestUser;
    let a1: GuildhallClient;
    let a2: GuildhallClient;
    let b1: GuildhallClient;
    let guild: Guild;

    before(async () => {
      server = await startTestServer(backend);
      [alice, bob] = await Promise.all([signUp(server, 'alice'), signUp(server, 'bob')]);
      [a1, a2, b1] = await Promise.all([alice.connect(), alice.connect(), bob.connect()]);
    });

    after(async () => {
      await Promise.all([a1, a2, b1].map((c) => c?.close()));
      await server?.dispose();
    });

    test('READY describes the user and an empty world', () => {
      assert.equal(a1.ready?.user.id, alice.user.id);
      assert.equal(a1.ready?.user.nickname, alice.user.nickname);
      assert.deepEqual(a1.ready?.guilds, []);
      assert.notEqual(a1.ready?.sessionId, undefined);
      assert.ok(a1.ready?.streams[`u:${alice.user.id}`]);
    });

    test('creating a guild makes the creator owner, adds #general, and reaches every tab', async () => {
      const onOtherTab = a2.waitFor(EventType.GUILD_CREATE);
      guild = await a1.request(Method.GUILD_CREATE, { name: 'Guildhall Test' });
      assert.equal(guild.ownerId, alice.user.id);
      assert.equal(guild.memberCount, 1);
      assert.deepEqual(guild.channels.map((c) => c.name), ['general']);
      assert.equal((await onOtherTab).id, guild.id);
    });

    test('bob joins by invite; members see GUILD_MEMBER_ADD, bob gets GUILD_CREATE', async () => {
      const invite = await a1.request(Method.INVITE_CREATE, { guildId: guild.id, maxUses: 5 });
      assert.match(invite.code, /^[A-Za-z0-9]{6,16}$/);
      const memberAdd = a2.waitFor(EventType.GUILD_MEMBER_ADD, (m) => m.user.id === bob.user.id);
      const bobGuildCreate = b1.waitFor(EventType.GUILD_CREATE, (g) => g.id === guild.id);
      const joined = await b1.request(Method.INVITE_JOIN, { code: invite.code });
      assert.equal(joined.id, guild.id);
      assert.equal(joined.memberCount, 2);
      assert.equal((await memberAdd).guildId, guild.id);
      assert.equal((await bobGuildCreate).channels.length, 1);
      await assert.rejects(b1.request(Method.INVITE_JOIN, { code: invite.code }), (e: GuildhallError) => e.code === ErrorCode.ALREADY_MEMBER);
    });

    test('messages reach every session in realtime, in order, acked with the stored message', async () => {
      const channelId = guild.channels[0]!.id;
      const received = { a2: [] as Message[], b1: [] as Message[] };
      // Only chat messages: bob's join system message may still be on its way.
      const offA = a2.on(EventType.MESSAGE_CREATE, (m) => m.type === MessageType.DEFAULT && received.a2.push(m));
      const offB = b1.on(EventType.MESSAGE_CREATE, (m) => m.type === MessageType.DEFAULT && received.b1.push(m));
      const sent: Message[] = [];
      for (let i = 0; i < 20; i++) {
        const client = i % 2 === 0 ? a1 : b1;
        sent.push(await client.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId, content: `hello ${i}`, nonce: `n${i}` }));
      }
      await b1.waitFor(EventType.MESSAGE_CREATE, (m) => m.content === 'hello 19').catch(() => undefined);
      await waitUntil(() => received.a2.length >= 20 && received.b1.length >= 20);
      offA();
      offB();
      assert.deepEqual(received.a2.map((m) => m.content), sent.map((m) => m.content));
      assert.deepEqual(received.b1.map((m) => m.id), sent.map((m) => m.id));
      assert.equal(sent[3]!.authorId, bob.user.id);
      assert.equal(sent[4]!.nonce, 'n4');
    });

    test('history pages newest first with a before cursor, identical across members', async () => {
      const channelId = guild.channels[0]!.id;
      const page1 = await b1.request(Method.MESSAGE_HISTORY, { guildId: guild.id, channelId, limit: 8 });
      assert.deepEqual(page1.map((m) => m.content), [19, 18, 17, 16, 15, 14, 13, 12].map((i) => `hello ${i}`));
      const page2 = await a1.request(Method.MESSAGE_HISTORY, { guildId: guild.id, channelId, before: page1.at(-1)!.id, limit: 100 });
      assert.deepEqual(page2.filter((m) => m.type === MessageType.DEFAULT).map((m) => m.content), [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0].map((i) => `hello ${i}`));
      // Bob's join left a typed system message in the system channel, older than every chat message.
      assert.deepEqual(page2.filter((m) => m.type !== MessageType.DEFAULT).map((m) => [m.type, m.authorId]), [[MessageType.MEMBER_JOIN, bob.user.id]]);
    });

    test('the first history page of an uncached channel comes from storage', async () => {
      // A new channel whose log was never cached: the first page comes from storage.
      const channel = await a1.request(Method.CHANNEL_CREATE, { guildId: guild.id, name: 'random' });
      await b1.waitFor(EventType.CHANNEL_CREATE, (c) => c.id === channel.id).catch(() => undefined);
      const m = await b1.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId: channel.id, content: 'in random' });
      const page = await a2.request(Method.MESSAGE_HISTORY, { guildId: guild.id, channelId: channel.id });
      assert.deepEqual(page.map((x) => x.id), [m.id]);
    });

    test('DMs: open, realtime delivery to both users on all tabs, history', async () => {
      const bobSeesDm = b1.waitFor(EventType.DM_CREATE);
      const dm = await a1.request(Method.DM_OPEN, { userId: bob.user.id });
      assert.deepEqual(dm.recipients.map((u) => u.id).sort(), [alice.user.id, bob.user.id].sort());
      assert.equal((await bobSeesDm).id, dm.id);
      const again = await b1.request(Method.DM_OPEN, { userId: alice.user.id });
      assert.equal(again.id, dm.id, 'opening the same pair returns the same DM');

      const onA2 = a2.waitFor(EventType.MESSAGE_CREATE, (m) => m.channelId === dm.id);
      const onB1 = b1.waitFor(EventType.MESSAGE_CREATE, (m) => m.channelId === dm.id);
      const sent = await a1.request(Method.DM_SEND, { dmId: dm.id, content: 'psst' });
      assert.equal(sent.guildId, null);
      assert.equal((await onA2).id, sent.id);
      assert.equal((await onB1).content, 'psst');
      const reply = await b1.request(Method.DM_SEND, { dmId: dm.id, content: 'hi alice' });
      const hist = await a1.request(Method.DM_HISTORY, { dmId: dm.id });
      assert.deepEqual(hist.map((m) => m.id), [reply.id, sent.id]);
    });

    test('a new session sees guilds and DMs in READY', async () => {
      const c = await bob.connect();
      try {
        assert.deepEqual(c.ready?.guilds.map((g) => g.id), [guild.id]);
        assert.equal(c.ready?.guilds[0]?.channels.length, 2);
        assert.equal(c.ready?.dms.length, 1);
        assert.ok(c.ready?.streams[`g:${guild.id}`]);
      } finally {
        await c.close();
      }
    });

    test('a stranger cannot read or write the guild or the DM', async () => {
      const eve = await signUp(server, 'eve');
      const e = await eve.connect();
      try {
        const channelId = guild.channels[0]!.id;
        await assert.rejects(e.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId, content: 'x' }), (err: GuildhallError) => err.code === ErrorCode.NOT_MEMBER);
        await assert.rejects(e.request(Method.MESSAGE_HISTORY, { guildId: guild.id, channelId }), (err: GuildhallError) => err.code === ErrorCode.NOT_MEMBER);
        const dmId = a1.ready ? (await a1.request(Method.DM_OPEN, { userId: bob.user.id })).id : '';
        await assert.rejects(e.request(Method.DM_SEND, { dmId, content: 'x' }), (err: GuildhallError) => err.code === ErrorCode.NOT_MEMBER);
      } finally {
        await e.close();
      }
    });
  });
}

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
