/**
 * Session resume over real sockets: a client that loses its connection gets every event it missed,
 * in order, exactly once — by replay from the streams' buffers, or, when those no longer hold
 * everything (or the session expired), by an explicit resync through history. Also the close codes
 * and RESUME's failure modes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloseCode, ErrorCode, EventType, Method, Op } from '../../protocol/opcodes.ts';
import { GuildhallClient, type ClientOptions } from '../../protocol/client/index.ts';
import type { ResumedPayload } from '../../protocol/resume.ts';
import type { Guild, Message, ReadyPayload } from '../../protocol/types.ts';
import { gatedWebSocket, type Gate } from '../support/gated-websocket.ts';
import { RawSocket } from '../support/raw-socket.ts';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/test-server.ts';

const FAST_RECONNECT: ClientOptions['reconnect'] = { initialDelayMs: 20, maxDelayMs: 200 };

async function waitUntil(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what} not met in time`);
    await sleep(10);
  }
}

/** Every MESSAGE_CREATE a client delivers to the app, in delivery order. */
function recordMessages(client: GuildhallClient, channelId?: string) {
  const got: Array<{ id: string; content: string; resynced: boolean }> = [];
  client.on(EventType.MESSAGE_CREATE, (m, ev) => {
    if (!channelId || m.channelId === channelId) got.push({ id: m.id, content: m.content, resynced: ev.resynced === true });
  });
  return got;
}

const once = <T>(subscribe: (fn: (v: T) => void) => () => void): Promise<T> =>
  new Promise((resolve) => {
    const off = subscribe((v) => {
      off();
      resolve(v);
    });
  });

async function gatedClient(server: TestServer, user: TestUser, extra: Partial<ClientOptions> = {}): Promise<{ client: GuildhallClient; gate: Gate }> {
  const gate = gatedWebSocket();
  const client = await GuildhallClient.connect({ url: server.gatewayUrl, token: user.token, WebSocket: gate.Ctor, reconnect: FAST_RECONNECT, ...extra });
  return { client, gate };
}

/** Cuts the client's socket while holding its reconnection; resolves once the SDK noticed. */
async function disconnect(client: GuildhallClient, gate: Gate): Promise<void> {
  const noticed = once<number>((fn) => client.onDisconnect(fn));
  gate.close();
  gate.cut();
  await noticed;
}

async function setupGuild(owner: GuildhallClient, members: GuildhallClient[], name = 'Resume Test'): Promise<Guild> {
  const guild = await owner.request(Method.GUILD_CREATE, { name });
  for (const m of members) {
    const invite = await owner.request(Method.INVITE_CREATE, { guildId: guild.id });
    await m.request(Method.INVITE_JOIN, { code: invite.code });
  }
  return guild;
}

async function sendMany(client: GuildhallClient, guild: Guild, n: number, prefix: string, channelId = guild.channels[0]!.id): Promise<Message[]> {
  const sent: Message[] = [];
  const tag = Math.random().toString(36).slice(2, 8); // nonces are de-duplicated, so never reuse one
  for (let i = 0; i < n; i++) sent.push(await client.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId, content: `${prefix} ${i}`, nonce: `${tag}-${i}` }));
  return sent;
}

describe('resume with replay', { timeout: 60_000 }, () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let bobClient: GuildhallClient;
  let carolClient: GuildhallClient;
  let guild: Guild;
  const open: GuildhallClient[] = [];

  before(async () => {
    server = await startTestServer('services');
    [alice, bob, carol] = await Promise.all([signUp(server, 'alice'), signUp(server, 'bob'), signUp(server, 'carol')]);
    bobClient = await bob.connect();
    carolClient = await carol.connect();
    open.push(bobClient, carolClient);
    const a = await alice.connect();
    open.push(a);
    guild = await setupGuild(bobClient, [a]);
  });

  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await server?.dispose();
  });

  test('a client that lost its socket gets exactly the events it missed, in order, then live ones', async () => {
    const { client, gate } = await gatedClient(server, alice);
    open.push(client);
    const got = recordMessages(client, guild.channels[0]!.id);
    await disconnect(client, gate);
    const missed = await sendMany(bobClient, guild, 25, 'while away');
    const resumed = once<ResumedPayload>((fn) => client.onResumed(fn));
    gate.open();
    const info = await resumed;
    assert.equal(info.replayed, 25);
    assert.deepEqual(info.resync, []);
    assert.deepEqual(got.map((m) => m.id), missed.map((m) => m.id), 'replayed before RESUMED, in order');
    const live = await sendMany(bobClient, guild, 3, 'live again');
    await waitUntil(() => got.length === 28);
    assert.deepEqual(got.map((m) => m.id), [...missed, ...live].map((m) => m.id));
    assert.ok(got.every((m) => !m.resynced));
  });

  test('exactly once across repeated cuts while messages keep flowing', async () => {
    const { client, gate } = await gatedClient(server, alice);
    open.push(client);
    const got = recordMessages(client, guild.channels[0]!.id);
    let resumes = 0;
    client.onResumed((p) => {
      resumes++;
      assert.deepEqual(p.resync, []);
    });
    let stop = false;
    const sent: Message[] = [];
    const sender = (async () => {
      for (let i = 0; !stop && i < 2000; i++) {
        sent.push(await bobClient.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId: guild.channels[0]!.id, content: `flow ${i}` }));
      }
    })();
    for (let cut = 0; cut < 5; cut++) {
      await sleep(60);
      gate.cut(); // the gate stays open: the SDK reconnects after its backoff while bob keeps sending
      await waitUntil(() => resumes === cut + 1, 10_000, `resume ${cut + 1}`);
    }
    await sleep(50);
    stop = true;
    await sender;
    await waitUntil(() => got.length >= sent.length, 10_000, 'all messages delivered');
    await sleep(100);
    assert.equal(got.length, sent.length, 'no duplicates');
    assert.deepEqual(got.map((m) => m.id), sent.map((m) => m.id));
    assert.ok(sent.length > 20, `only ${sent.length} messages were sent`);
  });

  test('only what the session may see is replayed; a guild joined meanwhile on another tab is included from the join on', async () => {
    const { client, gate } = await gatedClient(server, alice);
    open.push(client);
    const otherTab = await alice.connect();
    open.push(otherTab);
    const carolGuild = await setupGuild(carolClient, [], 'Carols Place');
    const secret = await setupGuild(carolClient, [], 'Not For Alice');
    const all: Message[] = [];
    client.on(EventType.MESSAGE_CREATE, (m) => all.push(m));
    const joined = once<Guild>((fn) => client.on(EventType.GUILD_CREATE, fn));

    await disconnect(client, gate);
    await sendMany(carolClient, carolGuild, 3, 'before alice joined');
    const invite = await carolClient.request(Method.INVITE_CREATE, { guildId: carolGuild.id });
    await otherTab.request(Method.INVITE_JOIN, { code: invite.code });
    const afterJoin = await sendMany(carolClient, carolGuild, 4, 'after alice joined');
    await sendMany(carolClient, secret, 3, 'secret');
    const resumed = once<ResumedPayload>((fn) => client.onResumed(fn));
    gate.open();
    await resumed;
    assert.equal((await joined).id, carolGuild.id, 'GUILD_CREATE from the user stream was replayed');
    // (the guild's system message for alice's join may come too; user messages are what matter here)
    const userMessages = all.filter((m) => m.content !== '');
    assert.deepEqual(userMessages.map((m) => m.content), afterJoin.map((m) => m.content));
    assert.ok(client.streamPositions()[`g:${carolGuild.id}`], 'the new guild stream is tracked');
  });

  test('requests made while reconnecting are sent once the session is back', async () => {
    const { client, gate } = await gatedClient(server, alice);
    open.push(client);
    await disconnect(client, gate);
    assert.equal(client.isConnected, false);
    const pending = client.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId: guild.channels[0]!.id, content: 'queued while away' });
    await sleep(50);
    gate.open();
    const m = await pending;
    assert.equal(m.content, 'queued while away');
  });

  test('a close code that forbids reconnecting ends the client for good', async () => {
    const { client, gate } = await gatedClient(server, alice);
    const closed = once<number>((fn) => client.onClose((code) => fn(code)));
    for (let i = 0; i < 25; i++) client.sendRaw(Uint8Array.of(0xc1));
    assert.equal(await closed, CloseCode.PROTOCOL_VIOLATION);
    await sleep(100);
    assert.equal(gate.dials, 1, 'no reconnection after 4008');
    assert.equal(client.isOpen, false);
    await assert.rejects(client.request(Method.MESSAGE_HISTORY, { guildId: guild.id, channelId: guild.channels[0]!.id }));
  });
});

describe('resume beyond the replay buffer', { timeout: 60_000 }, () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let bobClient: GuildhallClient;
  let guild: Guild;
  const open: GuildhallClient[] = [];

  before(async () => {
    server = await startTestServer('services', { REPLAY_BUFFER_EVENTS: '5', RESUME_WINDOW_MS: '1500' });
    [alice, bob] = await Promise.all([signUp(server, 'alice'), signUp(server, 'bob')]);
    bobClient = await bob.connect();
    open.push(bobClient);
    const a = await alice.connect();
    open.push(a);
    guild = await setupGuild(bobClient, [a]);
    await a.close();
  });

  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await server?.dispose();
  });

  test('a gap beyond the buffer is reported in RESUMED and recovered through history, exactly once', async () => {
    const { client, gate } = await gatedClient(server, alice);
    open.push(client);
    const got = recordMessages(client, guild.channels[0]!.id);
    const seen = await sendMany(bobClient, guild, 2, 'seen live');
    await waitUntil(() => got.length === 2);
    await disconnect(client, gate);
    const missed = await sendMany(bobClient, guild, 30, 'missed');
    const resumed = once<ResumedPayload>((fn) => client.onResumed(fn));
    const resynced = once<{ stream: string; reason: string }>((fn) => client.onResync(fn));
    gate.open();
    const info = await resumed;
    assert.equal(info.replayed, 0);
    assert.deepEqual(info.resync.map((r) => [r.stream, r.reason]), [[`g:${guild.id}`, 'gap']]);
    const r = await resynced;
    assert.equal(r.reason, 'gap');
    const live = await sendMany(bobClient, guild, 2, 'live');
    await waitUntil(() => got.length >= 34);
    await sleep(50);
    assert.deepEqual(got.map((m) => m.id), [...seen, ...missed, ...live].map((m) => m.id));
    assert.deepEqual(got.map((m) => m.resynced), [false, false, ...missed.map(() => true), false, false]);
  });

  test('an expired session falls back to IDENTIFY and resyncs every stream that moved', async () => {
    const { client, gate } = await gatedClient(server, alice);
    open.push(client);
    const got = recordMessages(client, guild.channels[0]!.id);
    const seen = await sendMany(bobClient, guild, 1, 'seen');
    await waitUntil(() => got.length === 1);
    await disconnect(client, gate);
    const missed = await sendMany(bobClient, guild, 3, 'missed');
    await sleep(1800); // beyond RESUME_WINDOW_MS
    const ready = once<ReadyPayload>((fn) => client.onReady(fn));
    const resynced = once<{ stream: string; reason: string }>((fn) => client.onResync(fn));
    gate.open();
    await ready;
    const r = await resynced;
    assert.equal(r.stream, `g:${guild.id}`);
    await waitUntil(() => got.length >= 4);
    await sleep(50);
    assert.deepEqual(got.map((m) => m.id), [...seen, ...missed].map((m) => m.id));
  });
});

describe('RESUME frame rules', { timeout: 60_000 }, () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  before(async () => {
    server = await startTestServer('services', { HEARTBEAT_INTERVAL_MS: '1000' });
    [alice, bob] = await Promise.all([signUp(server, 'alice'), signUp(server, 'bob')]);
  });

  after(async () => {
    await server?.dispose();
  });

  async function identified(user: TestUser): Promise<{ raw: RawSocket; ready: ReadyPayload & { resumeId: string } }> {
    const raw = await RawSocket.open(server.gatewayUrl);
    raw.send([Op.IDENTIFY, { token: user.token }]);
    const f = await raw.next((x) => x[0] === Op.READY);
    return { raw, ready: f[1] as ReadyPayload & { resumeId: string } };
  }

  const resumeFrame = (ready: ReadyPayload & { resumeId: string }, token: string) => [
    Op.RESUME,
    { resumeId: ready.resumeId, token, streams: Object.fromEntries(Object.entries(ready.streams).map(([k, v]) => [k, [v.epoch, v.seq]])) },
  ];
  const isError = (code: number) => (f: unknown[]) => f[0] === Op.ERROR && f[1] === 0 && f[2] === code;

  test('READY carries a resumeId; an abnormal drop keeps the session, RESUME answers RESUMED', async () => {
    const { raw, ready } = await identified(alice);
    assert.equal(typeof ready.resumeId, 'string');
    raw.terminate();
    const again = await RawSocket.open(server.gatewayUrl);
    again.send(resumeFrame(ready, alice.token));
    const resumed = await again.next((f) => f[0] === Op.RESUMED);
    assert.deepEqual(resumed[1], { replayed: 0, resync: [] });
    again.send([Op.RESUME, { resumeId: ready.resumeId, token: alice.token, streams: {} }]);
    await again.next(isError(ErrorCode.ALREADY_IDENTIFIED));
    again.close();
  });

  test('a clean close (1000) ends the session', async () => {
    const { raw, ready } = await identified(alice);
    raw.close();
    await raw.closed;
    await sleep(50);
    const again = await RawSocket.open(server.gatewayUrl);
    again.send(resumeFrame(ready, alice.token));
    await again.next(isError(ErrorCode.INVALID_SESSION));
    again.send([Op.IDENTIFY, { token: alice.token }]); // the same socket may identify instead
    await again.next((f) => f[0] === Op.READY);
    again.close();
  });

  test("another user's token cannot resume a session; an invalid token closes with 4001", async () => {
    const { raw, ready } = await identified(alice);
    raw.terminate();
    const thief = await RawSocket.open(server.gatewayUrl);
    thief.send(resumeFrame(ready, bob.token));
    await thief.next(isError(ErrorCode.INVALID_SESSION));
    thief.close();
    const forger = await RawSocket.open(server.gatewayUrl);
    forger.send(resumeFrame(ready, 'not-a-token'));
    assert.equal((await forger.closed).code, CloseCode.AUTHENTICATION_FAILED);
  });

  test('resuming a session that is still attached closes the old connection with 4009', async () => {
    const { raw, ready } = await identified(alice);
    const again = await RawSocket.open(server.gatewayUrl);
    again.send(resumeFrame(ready, alice.token));
    await again.next((f) => f[0] === Op.RESUMED);
    assert.equal((await raw.closed).code, CloseCode.SESSION_REPLACED);
    again.close();
  });

  test('malformed RESUME payloads get INVALID_PAYLOAD', async () => {
    const raw = await RawSocket.open(server.gatewayUrl);
    for (const payload of [{}, { resumeId: 'x', token: 't', streams: { 'g:1': [1] } }, { resumeId: 'x', token: 't', streams: { 'x:1': [1, 2] } }, { resumeId: 'x', token: 't', streams: {}, extra: 1 }]) {
      raw.send([Op.RESUME, payload]);
      await raw.next(isError(ErrorCode.INVALID_PAYLOAD));
    }
    raw.close();
  });

  test('a connection that stops heartbeating is closed with 4003 and its session stays resumable', async () => {
    const { raw, ready } = await identified(alice);
    const { code } = await raw.closed;
    assert.equal(code, CloseCode.HEARTBEAT_TIMEOUT);
    const again = await RawSocket.open(server.gatewayUrl);
    again.send(resumeFrame(ready, alice.token));
    await again.next((f) => f[0] === Op.RESUMED);
    again.close();
  });

  test('a socket that never identifies is closed with 4002', async () => {
    const s2 = await startTestServer('embedded', { IDENTIFY_TIMEOUT_MS: '300' });
    try {
      const raw = await RawSocket.open(s2.gatewayUrl);
      assert.equal((await raw.closed).code, CloseCode.IDENTIFY_TIMEOUT);
    } finally {
      await s2.dispose();
    }
  });
});
