/**
 * Replay buffers (EventStream + StreamRegistry), the replay planner, and the resume path of
 * Connection against a fake pub/sub hub that behaves like uWS topics with the per-tick coalescer:
 * events published before the resume's synchronous section reach the resumed connection only by
 * replay, later ones only live — never both, never neither.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { pino } from 'pino';
import { decode, encode, readDispatch } from '../../protocol/codec.ts';
import { CloseCode, ErrorCode, Op } from '../../protocol/opcodes.ts';
import type { ReadyPayload } from '../../protocol/types.ts';
import { EventStream, StreamRegistry } from '../../engine/actors/event-stream.ts';
import type { Bus } from '../../engine/cluster/bus.ts';
import { Connection, type GatewaySocket } from '../../engine/gateway/connection.ts';
import { planReplay, SessionStore } from '../../engine/gateway/resume.ts';
import { SessionRegistry } from '../../engine/gateway/session-registry.ts';

class FakeClock {
  constructor(public t = 1_000_000) {}
  now = () => this.t;
}

/** uWS topics + the gateway's coalescer: publish() queues, flush() delivers to current subscribers. */
class Hub {
  private pending: Array<[string, Uint8Array]> = [];
  readonly subs = new Map<string, Set<HubSocket>>();
  publish(topic: string, event: Uint8Array): void {
    this.pending.push([topic, event]);
  }
  flush = (): void => {
    const batch = this.pending;
    this.pending = [];
    for (const [topic, event] of batch) for (const s of this.subs.get(topic) ?? []) s.deliver(event);
  };
}

class HubSocket implements GatewaySocket {
  readonly frames: unknown[][] = [];
  closedWith: number | null = null;
  constructor(private readonly hub: Hub) {}
  send(frame: Uint8Array): void {
    this.frames.push(decode(frame) as unknown[]);
  }
  deliver(event: Uint8Array): void {
    this.frames.push([Op.DISPATCH, decode(event)]);
  }
  close(code: number): void {
    this.closedWith = code;
    for (const set of this.hub.subs.values()) set.delete(this);
  }
  subscribe(topic: string): void {
    let set = this.hub.subs.get(topic);
    if (!set) this.hub.subs.set(topic, (set = new Set()));
    set.add(this);
  }
  unsubscribe(topic: string): void {
    this.hub.subs.get(topic)?.delete(this);
  }
  /** Message ids of the MESSAGE_CREATE events received, in order. */
  get events(): Array<{ stream: string; seq: number; data: unknown }> {
    return this.frames.filter((f) => f[0] === Op.DISPATCH).flatMap((f) => readDispatch(f)).map((e) => ({ stream: e.stream, seq: e.seq, data: e.data }));
  }
}

function setup(opts: { maxEvents?: number; maxBytes?: number; maxAgeMs?: number; windowMs?: number; whileBuildingReady?: () => Promise<void> } = {}) {
  const clock = new FakeClock();
  const hub = new Hub();
  const streams = new StreamRegistry({ maxEvents: opts.maxEvents ?? 100, maxBytes: opts.maxBytes ?? 1 << 20, maxAgeMs: opts.maxAgeMs ?? 60_000 }, clock, 3_600_000);
  const bus = { streams, publish: (t: string, e: Uint8Array) => hub.publish(t, e) } as unknown as Bus;
  const registry = new SessionRegistry();
  const sessions = new SessionStore({ windowMs: opts.windowMs ?? 60_000, registry, clock, lsn: () => streams.lastLsn });
  const guild = new EventStream('g:10', bus, clock);
  const user = new EventStream('u:1', bus, clock);
  const topics = ['g:10', 'c:11', 'u:1'];
  let nextId = 1;
  const connect = () => {
    const socket = new HubSocket(hub);
    const conn = new Connection(nextId++, socket, {
      verifyToken: async (token) => {
        if (token === 'alice') return { userId: '1', sessionId: 's1' };
        if (token === 'bob') return { userId: '2', sessionId: 's2' };
        throw new Error('bad token');
      },
      ready: async () => {
        const positions = { 'g:10': guild.position, 'u:1': user.position };
        await opts.whileBuildingReady?.();
        return {
          payload: { sessionId: 's1', user: { id: '1', nickname: 'a', email: 'a@x.y' }, guilds: [], dms: [], streams: positions } as unknown as ReadyPayload,
          topics,
        };
      },
      commands: {},
      registry,
      clock,
      logger: pino({ level: 'silent' }),
      limits: { heartbeatIntervalMs: 30_000, maxFrameBytes: 65_536, identifyTimeoutMs: 60_000, maxBadFrames: 10 },
      resume: { sessions, streams, flush: hub.flush },
    });
    conn.open();
    return { conn, socket };
  };
  return { clock, hub, streams, sessions, registry, guild, user, connect };
}

const msg = (n: number) => ({ id: String(n) });

describe('EventStream replay buffer', () => {
  it('returns exactly the events after a position, and says when it cannot', () => {
    const { guild } = setup({ maxEvents: 5 });
    for (let i = 1; i <= 8; i++) guild.emit('c:11', 'MESSAGE_CREATE', msg(i));
    assert.deepEqual(guild.position.seq, 8);
    const r = guild.since(5);
    assert.ok(r.ok);
    assert.deepEqual(r.events.map((e) => e.seq), [6, 7, 8]);
    const r3 = guild.since(3);
    assert.ok(r3.ok);
    assert.deepEqual(r3.events.map((e) => e.seq), [4, 5, 6, 7, 8]);
    assert.deepEqual(guild.since(2), { ok: false, reason: 'gap' });
    assert.deepEqual(guild.since(8), { ok: true, events: [] });
    assert.deepEqual(guild.since(9), { ok: false, reason: 'ahead' });
  });

  it('drops events beyond the byte limit and the age limit', () => {
    const { guild, clock } = setup({ maxEvents: 1000, maxBytes: 300, maxAgeMs: 1000 });
    for (let i = 1; i <= 20; i++) guild.emit('c:11', 'MESSAGE_CREATE', { id: String(i), pad: 'x'.repeat(40) });
    const kept = guild.buffered();
    assert.ok(kept.length < 20 && kept.length > 0);
    assert.ok(kept.reduce((n, e) => n + e.bytes.length, 0) <= 300);
    assert.equal(kept.at(-1)!.seq, 20);
    clock.t += 1001;
    assert.deepEqual(guild.buffered(), []);
    assert.deepEqual(guild.since(19), { ok: false, reason: 'gap' });
    assert.deepEqual(guild.since(20), { ok: true, events: [] }, 'being up to date needs no buffer');
  });

  it('keeps no buffer when disabled, but still knows positions', () => {
    const { guild } = setup({ maxEvents: 0 });
    guild.emit('c:11', 'MESSAGE_CREATE', msg(1));
    assert.deepEqual(guild.since(0), { ok: false, reason: 'gap' });
    assert.deepEqual(guild.since(1), { ok: true, events: [] });
  });

  it('registers streams by name and topic; a topic may have several streams', () => {
    const { streams, guild, user } = setup();
    guild.emit('c:11', 'MESSAGE_CREATE', msg(1));
    assert.equal(streams.get('g:10'), guild);
    assert.deepEqual(streams.ownersOf('c:11'), [guild]);
    assert.deepEqual(streams.ownersOf('c:99'), []);
    // A user topic gets the user's own stream and guild facts addressed to the user.
    user.emit('u:1', 'USER_UPDATE', {});
    guild.emit('u:1', 'MESSAGE_MENTION', {});
    assert.deepEqual(new Set(streams.ownersOf('u:1')), new Set([user, guild]));
  });
});

describe('planReplay', () => {
  it('replays only topics the session holds, and lists streams it cannot replay', () => {
    const { streams, guild, user } = setup({ maxEvents: 3 });
    guild.emit('c:11', 'MESSAGE_CREATE', msg(1));
    guild.emit('c:12', 'MESSAGE_CREATE', msg(2)); // a channel this session cannot see
    guild.emit('c:11', 'MESSAGE_CREATE', msg(3));
    user.emit('u:1', 'DM_CREATE', msg(4));
    for (let i = 0; i < 5; i++) user.emit('u:1', 'DM_CREATE', msg(10 + i));
    const session = { topics: new Set(['c:11', 'u:1', 'g:10']), topicSince: new Map() };
    const plan = planReplay(streams, new Map([['g:10', { epoch: guild.epoch, seq: 0 }], ['u:1', { epoch: user.epoch, seq: 0 }], ['d:5', { epoch: 1, seq: 1 }]]), session, false);
    assert.deepEqual(plan.events.map((b) => (decode(b) as unknown[])[3]), [1, 3]);
    assert.deepEqual(plan.resync, [
      { stream: 'u:1', reason: 'gap', epoch: user.epoch, seq: 6 },
      { stream: 'd:5', reason: 'unknown', epoch: null, seq: null },
    ]);
    const stale = planReplay(streams, new Map([['g:10', { epoch: guild.epoch - 1, seq: 3 }]]), session, false);
    assert.deepEqual(stale.resync, [{ stream: 'g:10', reason: 'epoch', epoch: guild.epoch, seq: 3 }]);
  });

  it('lists a stream for resync instead of replaying it when its events exceed the byte budget', () => {
    const { streams, guild, user } = setup();
    for (let i = 1; i <= 10; i++) guild.emit('c:11', 'MESSAGE_CREATE', { id: String(i), pad: 'x'.repeat(100) });
    user.emit('u:1', 'DM_CREATE', msg(1));
    const session = { topics: new Set(['c:11', 'u:1']), topicSince: new Map() };
    const cursors = new Map([['g:10', { epoch: guild.epoch, seq: 0 }], ['u:1', { epoch: user.epoch, seq: 0 }]]);
    const plan = planReplay(streams, cursors, session, false, 500);
    assert.deepEqual(plan.resync, [{ stream: 'g:10', reason: 'gap', epoch: guild.epoch, seq: 10 }]);
    assert.equal(plan.events.length, 1, 'the small stream still replays');
    assert.equal(planReplay(streams, cursors, session, false).events.length, 11);
  });

  it('covers streams the client did not list from the moment the session acquired their topics', () => {
    const { streams, guild } = setup();
    guild.emit('c:11', 'MESSAGE_CREATE', msg(1)); // before the session held c:11
    const since = streams.lastLsn;
    guild.emit('c:11', 'MESSAGE_CREATE', msg(2));
    guild.emit('c:11', 'MESSAGE_CREATE', msg(3));
    const session = { topics: new Set(['c:11']), topicSince: new Map([['c:11', since]]) };
    const plan = planReplay(streams, new Map(), session, true);
    assert.deepEqual(plan.events.map((b) => (decode(b) as unknown[])[3]), [2, 3]);
    assert.deepEqual(planReplay(streams, new Map(), session, false).events, []);
  });
});

describe('Connection resume (exactly once at the replay/live boundary)', () => {
  async function identified(env: ReturnType<typeof setup>, token = 'alice') {
    const { conn, socket } = env.connect();
    conn.receive(encode([Op.IDENTIFY, { token }]), true);
    await tick();
    assert.ok(conn.isReady);
    const ready = socket.frames.find((f) => f[0] === Op.READY)![1] as ReadyPayload & { resumeId: string };
    return { conn, socket, ready };
  }

  it('replays what was missed, flushes pending publishes first, then goes live', async () => {
    const env = setup();
    const { conn, socket, ready } = await identified(env);
    env.guild.emit('c:11', 'MESSAGE_CREATE', msg(1));
    env.hub.flush();
    assert.deepEqual(socket.events.map((e) => e.seq), [1]);
    conn.closed(1006); // abnormal: the session stays
    assert.equal(env.sessions.detachedCount, 1);
    env.guild.emit('c:11', 'MESSAGE_CREATE', msg(2));
    env.hub.flush();
    env.guild.emit('c:11', 'MESSAGE_CREATE', msg(3)); // still pending in the coalescer at RESUME time
    const b = env.connect();
    b.conn.receive(encode([Op.RESUME, { resumeId: ready.resumeId, token: 'alice', streams: { 'g:10': [env.guild.epoch, 1], 'u:1': [env.user.epoch, 0] } }]), true);
    await tick();
    env.guild.emit('c:11', 'MESSAGE_CREATE', msg(4));
    env.hub.flush();
    assert.deepEqual(b.socket.events.map((e) => e.seq), [2, 3, 4]);
    const resumedAt = b.socket.frames.findIndex((f) => f[0] === Op.RESUMED);
    assert.deepEqual(b.socket.frames[resumedAt]![1], { replayed: 2, resync: [] });
    assert.equal(b.socket.frames.slice(resumedAt + 1).filter((f) => f[0] === Op.DISPATCH).length, 1, 'only seq 4 after RESUMED');
    assert.equal(env.sessions.detachedCount, 0);
  });

  it('events emitted while READY is built reach the new session exactly once', async () => {
    // READY's positions are taken first; these events come after, before the socket subscribes
    const env: ReturnType<typeof setup> = setup({
      whileBuildingReady: async () => {
        env.guild.emit('c:11', 'MESSAGE_CREATE', msg(1));
        env.hub.flush();
        env.guild.emit('c:11', 'MESSAGE_CREATE', msg(2)); // left pending in the coalescer
      },
    });
    const { conn, socket } = env.connect();
    conn.receive(encode([Op.IDENTIFY, { token: 'alice' }]), true);
    await tick();
    assert.ok(conn.isReady);
    env.hub.flush();
    env.guild.emit('c:11', 'MESSAGE_CREATE', msg(3));
    env.hub.flush();
    assert.equal(socket.frames[1]![0], Op.READY);
    assert.deepEqual(socket.events.map((e) => e.seq), [1, 2, 3]);
  });

  it('applies subscription changes made while a session is detached', async () => {
    const env = setup();
    const { conn, ready } = await identified(env);
    conn.closed(1006);
    env.registry.retopic('1', { unsubscribe: ['c:11'], subscribe: ['c:12'] });
    env.guild.emit('c:11', 'MESSAGE_CREATE', msg(1)); // lost access: not replayed
    env.guild.emit('c:12', 'MESSAGE_CREATE', msg(2)); // gained access: replayed
    const b = env.connect();
    b.conn.receive(encode([Op.RESUME, { resumeId: ready.resumeId, token: 'alice', streams: { 'g:10': [env.guild.epoch, 0] } }]), true);
    await tick();
    assert.deepEqual(b.socket.events.map((e) => e.seq), [2]);
    env.guild.emit('c:11', 'MESSAGE_CREATE', msg(3));
    env.guild.emit('c:12', 'MESSAGE_CREATE', msg(4));
    env.hub.flush();
    assert.deepEqual(b.socket.events.map((e) => e.seq), [2, 4]);
  });

  it('ends the session on a clean close or a non-resumable code, keeps it otherwise, and expires it', async () => {
    const env = setup({ windowMs: 50 });
    for (const [code, kept] of [[CloseCode.NORMAL, false], [CloseCode.PROTOCOL_VIOLATION, false], [CloseCode.SESSION_REVOKED, false], [1006, true], [CloseCode.SLOW_CONSUMER, true], [CloseCode.HEARTBEAT_TIMEOUT, true]] as const) {
      const { conn, ready } = await identified(env);
      conn.closed(code);
      assert.equal(env.sessions.get(ready.resumeId) !== undefined, kept, `close ${code}`);
    }
    assert.equal(env.registry.sessionsOf('1'), 3, 'detached sessions still receive subscription changes');
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(env.sessions.size, 0);
    assert.equal(env.registry.sessionsOf('1'), 0);
  });

  it('keeps at most maxDetachedPerUser detached sessions per user, dropping the oldest', () => {
    const clock = new FakeClock();
    const registry = new SessionRegistry();
    const store = new SessionStore({ windowMs: 60_000, registry, clock, lsn: () => 0, maxDetachedPerUser: 2 });
    const sessions = [1, 2, 3].map(() => store.create({ userId: '1', sessionId: 's' }));
    const other = store.create({ userId: '2', sessionId: 't' });
    for (const s of [...sessions, other]) {
      s.activate([]);
      store.detach(s);
    }
    assert.equal(store.get(sessions[0]!.resumeId), undefined, 'the oldest went');
    assert.ok(store.get(sessions[1]!.resumeId) && store.get(sessions[2]!.resumeId) && store.get(other.resumeId));
    assert.equal(store.detachedCount, 3);
    store.resumed(sessions[1]!);
    assert.equal(store.detachedCount, 2);
    store.close();
    assert.equal(registry.users, 0);
  });

  it("refuses another user's session and unknown ids with INVALID_SESSION, leaving IDENTIFY possible", async () => {
    const env = setup();
    const { conn, ready } = await identified(env);
    conn.closed(1006);
    const b = env.connect();
    b.conn.receive(encode([Op.RESUME, { resumeId: ready.resumeId, token: 'bob', streams: {} }]), true);
    await tick();
    b.conn.receive(encode([Op.RESUME, { resumeId: 'nope', token: 'alice', streams: {} }]), true);
    await tick();
    assert.deepEqual(b.socket.frames.filter((f) => f[0] === Op.ERROR).map((f) => f[2]), [ErrorCode.INVALID_SESSION, ErrorCode.INVALID_SESSION]);
    b.conn.receive(encode([Op.IDENTIFY, { token: 'bob' }]), true);
    await tick();
    assert.ok(b.conn.isReady);
  });
});
