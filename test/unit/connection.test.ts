import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { decode, encode } from '../../protocol/codec.ts';
import { CloseCode, ErrorCode, Method, Op, PROTOCOL_VERSION } from '../../protocol/opcodes.ts';
import { PAYLOADS } from '../../protocol/payloads.ts';
import type { Check } from '../../protocol/schema.ts';
import type { ReadyPayload } from '../../protocol/types.ts';
import { CommandError } from '../../engine/command-error.ts';
import type { Caller, CommandEntry } from '../../engine/gateway/command-table.ts';
import { Connection, type ConnectionDeps, type ConnectionLimits, type GatewaySocket } from '../../engine/gateway/connection.ts';
import { TopicCoalescer } from '../../engine/gateway/fanout.ts';
import { encodeEvent } from '../../protocol/codec.ts';
import { SessionRegistry } from '../../engine/gateway/session-registry.ts';

class FakeSocket implements GatewaySocket {
  /** Every socket call in order: decoded frames, closes, (un)subscriptions. */
  readonly calls: unknown[] = [];
  get frames() { return this.calls.filter((c): c is unknown[] => Array.isArray(c)); }
  get closes() { return this.calls.filter((c): c is { code: number; reason: string } => !Array.isArray(c) && 'code' in (c as object)); }
  send(frame: Uint8Array) { this.calls.push(decode(frame)); }
  close(code: number, reason: string) { this.calls.push({ code, reason }); }
  subscribe(topic: string) { this.calls.push({ subscribe: topic }); }
  unsubscribe(topic: string) { this.calls.push({ unsubscribe: topic }); }
  clear() { this.calls.length = 0; }
}

const CALLER: Caller = { userId: '1001', sessionId: '2002' };
const READY: ReadyPayload = { sessionId: '2002', user: { id: '1001', nickname: 'ann', email: 'ann@example.com', displayName: null, avatarUrl: null, bio: null, createdAt: 0 }, relationships: [], presences: [], readStates: [], mutes: [], guilds: [], dms: [], streams: {} };
const TOPICS = ['u:1001', 'g:3003'];
const SECRET_TEXT = 'connection string postgres://admin:hunter2@db';
const connections: Connection[] = [];
afterEach(() => connections.splice(0).forEach((c) => c.closed()));

function setup(
  limits: Partial<ConnectionLimits> = {},
  ready = async (_c: Caller) => ({ payload: READY, topics: TOPICS }),
  extra: { socket?: FakeSocket; deps?: Partial<ConnectionDeps> } = {},
) {
  const socket = extra.socket ?? new FakeSocket();
  const registry = new SessionRegistry();
  const runs: { caller: Caller; payload: unknown }[] = [];
  const entry = (run: CommandEntry['run']): CommandEntry => ({ schema: PAYLOADS[Method.MESSAGE_HISTORY] as Check<unknown>, run });
  const commands: Record<string, CommandEntry> = {
    [Method.MESSAGE_HISTORY]: entry(async (caller, payload) => (runs.push({ caller, payload }), { messages: [] })),
    'test.denied': entry(async () => { throw new CommandError(ErrorCode.NOT_MEMBER, 'not a member', { guildId: '5' }); }),
    'test.crash': entry(async () => { throw new Error(SECRET_TEXT); }),
  };
  const conn = new Connection(7, socket, {
    verifyToken: async (token) => { if (token !== 'good-token') throw new Error('bad token'); return CALLER; },
    ready,
    commands,
    registry,
    clock: { now: () => 1_000 },
    logger: pino({ level: 'silent' }),
    limits: { heartbeatIntervalMs: 30_000, maxFrameBytes: 65_536, identifyTimeoutMs: 60_000, maxBadFrames: 20, ...limits },
    ...extra.deps,
  });
  connections.push(conn);
  conn.open();
  const send = (value: unknown) => conn.receive(encode(value), true);
  const identify = async () => {
    send([Op.IDENTIFY, { token: 'good-token' }]);
    await tick();
    assert.equal(conn.isReady, true);
    socket.clear();
  };
  return { conn, socket, registry, runs, send, identify };
}

const error = (ref: number, code: number) => (f: unknown[]) => f[0] === Op.ERROR && f[1] === ref && f[2] === code;
function assertErrors(socket: FakeSocket, ref: number, code: number, count = 1) {
  assert.equal(socket.frames.length, count, JSON.stringify(socket.frames));
  for (const f of socket.frames) {
    assert.ok(error(ref, code)(f), `expected ERROR ref ${ref} code ${code}, got ${JSON.stringify(f)}`);
    assert.equal(typeof f[3], 'string');
  }
}

describe('Connection handshake', () => {
  it('sends HELLO with the limits on open', () => {
    const { socket } = setup({ heartbeatIntervalMs: 12_000, maxFrameBytes: 4096 });
    assert.deepEqual(socket.calls, [[Op.HELLO, { v: PROTOCOL_VERSION, heartbeatIntervalMs: 12_000, maxFrameBytes: 4096 }]]);
  });

  it('answers a successful IDENTIFY with READY, subscribing to every ready topic in the same step', async () => {
    const { conn, socket, registry, send } = setup();
    socket.clear();
    send([Op.IDENTIFY, { token: 'good-token', client: 'test' }]);
    await tick();
    assert.deepEqual(socket.calls, [[Op.READY, READY], { subscribe: 'u:1001' }, { subscribe: 'g:3003' }]);
    assert.equal(conn.isReady, true);
    assert.equal(conn.userId, '1001');
    assert.equal(registry.sessionsOf('1001'), 1);
    conn.closed();
    assert.equal(registry.sessionsOf('1001'), 0);
  });

  it('refuses IDENTIFY with a bad payload and still accepts a good one afterwards', async () => {
    const { conn, socket, send } = setup();
    socket.clear();
    send([Op.IDENTIFY, { token: 42 }]);
    send([Op.IDENTIFY]);
    send([Op.IDENTIFY, { token: 'good-token', extra: true }]);
    await tick();
    assertErrors(socket, 0, ErrorCode.INVALID_PAYLOAD, 3);
    assert.deepEqual(socket.frames.map((f) => f[4]), [
      { field: 'token', reason: 'must be a string' },
      { field: 'token', reason: 'must be a string' },
      { field: 'extra', reason: 'unknown field' },
    ]);
    socket.clear();
    send([Op.IDENTIFY, { token: 'good-token' }]);
    await tick();
    assert.equal(conn.isReady, true);
  });

  it('closes with AUTHENTICATION_FAILED when the token is rejected, and ignores later frames', async () => {
    const { conn, socket, registry, send } = setup();
    socket.clear();
    send([Op.IDENTIFY, { token: 'forged' }]);
    await tick();
    assert.deepEqual(socket.closes.map((c) => c.code), [CloseCode.AUTHENTICATION_FAILED]);
    assert.equal(socket.frames.length, 0);
    assert.equal(conn.isReady, false);
    assert.equal(registry.users, 0);
    send([Op.HEARTBEAT]);
    assert.equal(socket.calls.length, 1);
  });

  it('closes when building READY fails: AUTH_FAILED → AUTHENTICATION_FAILED, anything else → UNKNOWN_ERROR', async () => {
    for (const [err, code] of [
      [new CommandError(ErrorCode.AUTH_FAILED, 'session revoked'), CloseCode.AUTHENTICATION_FAILED],
      [new Error('storage exploded'), CloseCode.UNKNOWN_ERROR],
    ] as const) {
      const { socket, registry, send } = setup({}, async () => { throw err; });
      send([Op.IDENTIFY, { token: 'good-token' }]);
      await tick();
      assert.deepEqual(socket.closes.map((c) => c.code), [code]);
      assert.ok(!socket.frames.some((f) => f[0] === Op.READY));
      assert.equal(registry.users, 0);
    }
  });

  it('answers a second IDENTIFY with ALREADY_IDENTIFIED', async () => {
    const { socket, send, identify } = setup();
    await identify();
    send([Op.IDENTIFY, { token: 'good-token' }]);
    await tick();
    assertErrors(socket, 0, ErrorCode.ALREADY_IDENTIFIED);
  });

  it('closes with IDENTIFY_TIMEOUT when no IDENTIFY arrives in time', async () => {
    const { socket } = setup({ identifyTimeoutMs: 10 });
    await sleep(40);
    assert.deepEqual(socket.closes.map((c) => c.code), [CloseCode.IDENTIFY_TIMEOUT]);
  });

  it('does not time out once READY was sent', async () => {
    const { socket, identify } = setup({ identifyTimeoutMs: 10 });
    await identify();
    await sleep(40);
    assert.deepEqual(socket.closes, []);
  });
});

describe('Connection bad frames', () => {
  it('answers a text frame and garbage bytes with MALFORMED_FRAME (ref 0)', () => {
    const { conn, socket } = setup();
    socket.clear();
    conn.receive(Buffer.from('{"op":1}'), false);
    conn.receive(Uint8Array.of(0xc1), true);
    conn.receive(Uint8Array.of(0x92, 0x05), true);
    assertErrors(socket, 0, ErrorCode.MALFORMED_FRAME, 3);
  });

  it('answers an unknown opcode with UNKNOWN_OPCODE', () => {
    const { socket, send } = setup();
    socket.clear();
    send([99]);
    send([Op.READY, {}]); // a server-to-client opcode
    assertErrors(socket, 0, ErrorCode.UNKNOWN_OPCODE, 2);
  });

  it('answers frames of the wrong shape with INVALID_FRAME', () => {
    const { conn, socket, send } = setup();
    socket.clear();
    for (const frame of [{}, [], ['x'], [1.5], 'hello', null]) send(frame);
    conn.receive(Uint8Array.of(0x91, 0xd4, 0x05, 0x01), true); // extension type inside
    assertErrors(socket, 0, ErrorCode.INVALID_FRAME, 7);
  });

  it('answers a REQUEST before READY with NOT_IDENTIFIED and its ref', () => {
    const { socket, send } = setup();
    socket.clear();
    send([Op.REQUEST, 5, Method.MESSAGE_HISTORY, { guildId: '1', channelId: '2' }]);
    send([Op.IDENTIFY, { token: 'good-token' }]); // identifying: still not ready
    send([Op.REQUEST, 6, Method.MESSAGE_HISTORY, { guildId: '1', channelId: '2' }]);
    assert.deepEqual(socket.frames.map((f) => [f[1], f[2]]), [[5, ErrorCode.NOT_IDENTIFIED], [6, ErrorCode.NOT_IDENTIFIED]]);
  });

  it('closes with PROTOCOL_VIOLATION after more than maxBadFrames bad frames', () => {
    const { conn, socket, send } = setup({ maxBadFrames: 3 });
    socket.clear();
    for (let i = 0; i < 3; i++) send([99]);
    send([Op.HEARTBEAT]);
    assert.equal(socket.closes.length, 0);
    conn.receive(Uint8Array.of(0xc1), true);
    assert.deepEqual(socket.closes.map((c) => c.code), [CloseCode.PROTOCOL_VIOLATION]);
    assert.equal(socket.frames.filter(error(0, ErrorCode.UNKNOWN_OPCODE)).length, 3);
    const before = socket.calls.length;
    send([Op.HEARTBEAT]);
    assert.equal(socket.calls.length, before, 'a closed connection sends nothing');
  });
});

describe('Connection requests', () => {
  it('answers HEARTBEAT with HEARTBEAT_ACK, before and after IDENTIFY', async () => {
    const { socket, send, identify } = setup();
    socket.clear();
    send([Op.HEARTBEAT]);
    assert.deepEqual(socket.calls, [[Op.HEARTBEAT_ACK]]);
    await identify();
    send([Op.HEARTBEAT]);
    assert.deepEqual(socket.calls, [[Op.HEARTBEAT_ACK]]);
  });

  it('runs a valid request with the caller and the validated payload, answering OK', async () => {
    const { socket, runs, send, identify } = setup();
    await identify();
    send([Op.REQUEST, 0xffffffff, Method.MESSAGE_HISTORY, { guildId: '10', channelId: '11' }]);
    await tick();
    assert.deepEqual(socket.calls, [[Op.OK, 0xffffffff, { messages: [] }]]);
    assert.equal(runs.length, 1);
    assert.deepEqual(runs[0]!.caller, CALLER);
    // the validated payload: defaults filled in (whatever optional cursors the schema has are null)
    assert.deepEqual(Object.fromEntries(Object.entries(runs[0]!.payload as object).filter(([, v]) => v !== null)), { guildId: '10', channelId: '11', limit: 50 });
  });

  it('reads the frame bytes only synchronously: wiping them after receive() (as uWS does) changes nothing', async () => {
    const { conn, runs, identify, socket } = setup();
    await identify();
    const bytes = encode([Op.REQUEST, 7, Method.MESSAGE_HISTORY, { guildId: '10', channelId: '11', before: '12' }]);
    conn.receive(bytes, true);
    bytes.fill(0xc1);
    await tick();
    assert.equal(socket.frames[0]![0], Op.OK);
    assert.equal((runs[0]!.payload as { before: string }).before, '12');
  });

  it('refuses a REQUEST whose ref is missing, 0, negative, fractional or too large with INVALID_FRAME', async () => {
    const { socket, runs, send, identify } = setup();
    await identify();
    const p = { guildId: '10', channelId: '11' };
    for (const ref of [0, -1, 1.5, '1', null, 2 ** 32]) send([Op.REQUEST, ref, Method.MESSAGE_HISTORY, p]);
    send([Op.REQUEST, 1]);
    send([Op.REQUEST, 1, Method.MESSAGE_HISTORY, p, 'extra']);
    await tick();
    assertErrors(socket, 0, ErrorCode.INVALID_FRAME, 8);
    assert.equal(runs.length, 0);
  });

  it('answers an unknown method with UNKNOWN_METHOD and the ref', async () => {
    const { socket, send, identify } = setup();
    await identify();
    let ref = 1;
    for (const method of ['guild.delete', 'constructor', '__proto__', 'toString', 42]) send([Op.REQUEST, ref++, method, {}]);
    await tick();
    assert.deepEqual(socket.frames.map((f) => [f[0], f[1], f[2]]), [1, 2, 3, 4, 5].map((r) => [Op.ERROR, r, ErrorCode.UNKNOWN_METHOD]));
  });

  it('answers an invalid payload with INVALID_PAYLOAD and {field, reason}', async () => {
    const { socket, runs, send, identify } = setup();
    await identify();
    send([Op.REQUEST, 3, Method.MESSAGE_HISTORY, { guildId: '01', channelId: '11' }]);
    send([Op.REQUEST, 4, Method.MESSAGE_HISTORY, { guildId: '10', channelId: '11', limit: 101 }]);
    send([Op.REQUEST, 5, Method.MESSAGE_HISTORY, { guildId: '10', channelId: '11', colour: 'red' }]);
    send([Op.REQUEST, 6, Method.MESSAGE_HISTORY]);
    await tick();
    assert.deepEqual(socket.frames.map((f) => [f[1], f[2], f[4]]), [
      [3, ErrorCode.INVALID_PAYLOAD, { field: 'guildId', reason: 'must be a snowflake id (decimal string)' }],
      [4, ErrorCode.INVALID_PAYLOAD, { field: 'limit', reason: 'must be an integer from 1 to 100' }],
      [5, ErrorCode.INVALID_PAYLOAD, { field: 'colour', reason: 'unknown field' }],
      [6, ErrorCode.INVALID_PAYLOAD, { field: 'guildId', reason: 'must be a snowflake id (decimal string)' }],
    ]);
    assert.equal(runs.length, 0);
  });

  it('turns a CommandError into ERROR with its code, message and details', async () => {
    const { socket, send, identify } = setup();
    await identify();
    send([Op.REQUEST, 9, 'test.denied', { guildId: '10', channelId: '11' }]);
    await tick();
    assert.deepEqual(socket.calls, [[Op.ERROR, 9, ErrorCode.NOT_MEMBER, 'not a member', { guildId: '5' }]]);
  });

  it('turns any other error into INTERNAL without leaking its text', async () => {
    const { socket, send, identify } = setup();
    await identify();
    send([Op.REQUEST, 10, 'test.crash', { guildId: '10', channelId: '11' }]);
    await tick();
    assert.deepEqual(socket.calls, [[Op.ERROR, 10, ErrorCode.INTERNAL, 'internal error', null]]);
    assert.ok(!JSON.stringify(socket.calls).includes('hunter2'));
  });
});

describe('Connection topics', () => {
  it('applies subscribe and unsubscribe idempotently', async () => {
    const { conn, socket, identify } = setup();
    await identify();
    conn.applyTopics({ subscribe: ['g:1', 'g:2', 'u:1001'] }); // u:1001 already held since READY
    conn.applyTopics({ subscribe: ['g:1'] });
    conn.applyTopics({ unsubscribe: ['g:2', 'g:2', 'g:never'] });
    conn.applyTopics({ unsubscribe: ['g:2'], subscribe: ['g:2'] });
    assert.deepEqual(socket.calls, [{ subscribe: 'g:1' }, { subscribe: 'g:2' }, { unsubscribe: 'g:2' }, { subscribe: 'g:2' }]);
    conn.closed();
    conn.applyTopics({ subscribe: ['g:9'], unsubscribe: ['g:1'] });
    assert.equal(socket.calls.length, 4, 'a closed connection changes no subscriptions');
  });
});

describe('Connection replies and events', () => {
  class CorkingSocket extends FakeSocket {
    cork(fn: () => void) {
      this.calls.push('cork');
      fn();
      this.calls.push('uncork');
    }
  }

  it('holds replies until the events published before them are out, then sends them corked together', async () => {
    const socket = new CorkingSocket();
    const coalescer = new TopicCoalescer((topic) => socket.calls.push({ published: topic }));
    const { send, identify } = setup({}, undefined, { socket, deps: { afterPendingEvents: coalescer.afterPending } });
    await identify();
    coalescer.add('c:1', encodeEvent('MESSAGE_CREATE', 'g:1', 1, 1, { n: 1 }));
    send([Op.REQUEST, 1, Method.MESSAGE_HISTORY, { guildId: '1', channelId: '2' }]);
    send([Op.REQUEST, 2, Method.MESSAGE_HISTORY, { guildId: '1', channelId: '2' }]);
    await sleep(5); // the commands ran; the coalescer's own tick is what lets their replies go
    const oks = (calls: unknown[]) => calls.filter((c) => Array.isArray(c) && c[0] === Op.OK).map((c) => (c as unknown[])[1]);
    assert.deepEqual(socket.calls.slice(0, 1), [{ published: 'c:1' }]);
    assert.deepEqual(socket.calls.slice(1, 2), ['cork']);
    assert.deepEqual(oks(socket.calls), [1, 2]);
    assert.equal(socket.calls.at(-1), 'uncork');
    socket.clear();
    // Nothing pending: a reply leaves at once.
    send([Op.REQUEST, 3, Method.MESSAGE_HISTORY, { guildId: '1', channelId: '2' }]);
    await tick();
    assert.deepEqual(oks(socket.calls), [3]);
  });
});
