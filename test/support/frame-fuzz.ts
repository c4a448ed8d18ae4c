/**
 * Frame fuzzing shared by test/unit/frame-fuzz.test.ts (100,000+ frames in `npm test`) and
 * test/soak/frame-fuzz.soak.ts (as many as you like): fast-check arbitraries that generate client
 * frames — valid ones, valid ones mutated at the byte level, hostile headers, and noise — and a
 * harness that feeds them to a real Connection over a fake socket, checking after every frame that
 * it produced exactly one reply (ERROR, OK, HEARTBEAT_ACK, READY, RESUMED) or exactly one close.
 */
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import fc from 'fast-check';
import { pino } from 'pino';
import { decode, encode } from '../../protocol/codec.ts';
import { Method, Op } from '../../protocol/opcodes.ts';
import { PAYLOADS } from '../../protocol/payloads.ts';
import type { Check } from '../../protocol/schema.ts';
import type { ReadyPayload } from '../../protocol/types.ts';
import type { CommandEntry } from '../../engine/gateway/command-table.ts';
import { Connection, type GatewaySocket } from '../../engine/gateway/connection.ts';
import { SessionRegistry } from '../../engine/gateway/session-registry.ts';

const ID = fc.bigInt({ min: 1n, max: (1n << 63n) - 1n }).map(String);
const smallInt = fc.integer({ min: -5, max: 300 });

/** Values that might appear in a payload: typed fields, wrong types, deep and wide structures. */
const payloadValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ guildId: ID, channelId: ID, content: fc.string({ maxLength: 60 }), nonce: fc.option(fc.string({ maxLength: 70 })) }, { requiredKeys: [] }) },
  { weight: 2, arbitrary: fc.record({ guildId: ID, channelId: ID, before: fc.option(ID), limit: smallInt }, { requiredKeys: [] }) },
  { weight: 2, arbitrary: fc.record({ name: fc.string({ maxLength: 120 }), dmId: ID, userId: ID, code: fc.string({ maxLength: 20 }) }, { requiredKeys: [] }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'polluted', 'x'), fc.jsonValue({ maxDepth: 2 })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
);

const methods = [...Object.values(Method), 'nope.nope', 'constructor', '__proto__', '', 'toString'];

/** Structurally plausible client frames (some valid, many subtly wrong). */
export const plausibleFrame: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constant(Op.REQUEST), fc.oneof(fc.integer({ min: 1, max: 2 ** 32 - 1 }), smallInt, fc.double(), fc.string()), fc.constantFrom(...methods), payloadValue).map((t) => [...t]) },
  { weight: 1, arbitrary: fc.constant([Op.HEARTBEAT]) },
  { weight: 1, arbitrary: fc.tuple(fc.constant(Op.IDENTIFY), fc.oneof(fc.record({ token: fc.string({ maxLength: 30 }) }), payloadValue)).map((t) => [...t]) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constant(Op.RESUME), fc.record({ resumeId: fc.string({ maxLength: 70 }), token: fc.string({ maxLength: 10 }), streams: fc.dictionary(fc.constantFrom('g:1', 'u:2', 'd:3', 'x:4', 'g:01'), fc.array(fc.oneof(smallInt, fc.maxSafeNat()), { maxLength: 3 })) }, { requiredKeys: [] }))
      .map((t) => [...t]),
  },
  { weight: 1, arbitrary: fc.array(fc.oneof(smallInt, fc.string({ maxLength: 8 }), payloadValue), { maxLength: 6 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

/** Byte strings a hostile client might send: hostile length headers, extension types, 0xc1, deep nesting. */
const hostileBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(
    Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0x05), // array32 of 4 billion
    Uint8Array.of(0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0x01), // map32 of 4 billion
    Uint8Array.of(0x92, 0x05, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x61), // str32 of 4 GiB
    Uint8Array.of(0x92, 0x05, 0xc6, 0x7f, 0xff, 0xff, 0xff), // bin32 of 2 GiB
    Uint8Array.of(0x91, 0xd4, 0x05, 0x01), // fixext
    Uint8Array.of(0x91, 0xc7, 0x01, 0xff, 0x00), // ext8 (timestamp type -1)
    Uint8Array.of(0x91, 0xc1), // never-used byte
    Uint8Array.of(0x91, 0xcc, 0x03), // non-canonical opcode
    Uint8Array.of(0x94, 0x05, 0xcd, 0x00, 0x07, 0xa1, 0x78, 0x80), // non-canonical ref
  ),
  fc.integer({ min: 1, max: 3000 }).map((n) => {
    const deep = new Uint8Array(n + 1).fill(0x91); // deep nesting
    deep[n] = 0x03;
    return deep;
  }),
  fc.uint8Array({ maxLength: 64 }),
);

/** Byte-level mutations of an encoded frame. */
function mutate(bytes: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = bytes.length;
  return fc.oneof(
    fc.array(fc.tuple(fc.nat(n - 1), fc.nat(7)), { minLength: 1, maxLength: 4 }).map((flips) => {
      const out = Uint8Array.from(bytes);
      for (const [i, bit] of flips) out[i] = out[i]! ^ (1 << bit);
      return out;
    }),
    fc.nat(n).map((cut) => bytes.subarray(0, cut)),
    fc.tuple(fc.nat(n), fc.uint8Array({ minLength: 1, maxLength: 6 })).map(([at, ins]) => new Uint8Array([...bytes.subarray(0, at), ...ins, ...bytes.subarray(at)])),
    fc.tuple(fc.nat(n), fc.constantFrom(0xc1, 0xd4, 0xc7, 0xdd, 0xdf, 0xdb, 0xc6, 0xcf, 0xd3, 0xde, 0xdc, 0xff)).map(([at, b]) => {
      const out = Uint8Array.from(bytes);
      if (at < n) out[at] = b;
      return out;
    }),
  );
}

/** Encoded plausible frames sampled once, as seeds for cheap byte-level mutation. */
const SEEDS = fc.sample(plausibleFrame.map((f) => encode(f)).filter((b) => b.length > 0), { numRuns: 4000, seed: 42 });

/** Any client frame as bytes: fresh plausible frames, mutations of seed frames, hostile bytes and noise. */
export const frameBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: plausibleFrame.map((f) => encode(f)) },
  { weight: 5, arbitrary: fc.constantFrom(...SEEDS).chain(mutate) },
  { weight: 2, arbitrary: hostileBytes },
);

/** Obtains V8's gc() without the --expose-gc flag (so `npm test` can measure retained memory). */
export function getGc(): () => void {
  setFlagsFromString('--expose_gc');
  return runInNewContext('gc') as () => void;
}

const REPLIES = new Set<number>([Op.HELLO, Op.ERROR, Op.OK, Op.HEARTBEAT_ACK, Op.READY, Op.RESUMED]);

/**
 * A ready Connection (and a fresh one still in HELLO) over counting fake sockets. `feed(bytes)`
 * hands one frame to one of them and checks it got exactly one reply or one close.
 */
export class FrameHarness {
  frames = 0;
  replies = 0;
  closes = 0;
  private ready!: Connection;
  private readySocket!: CountingSocket;
  private fresh!: Connection;
  private freshSocket!: CountingSocket;
  private readonly registry = new SessionRegistry();
  private nextId = 1;
  private readonly commands: Record<string, CommandEntry> = {};

  constructor(private readonly maxFrameBytes = 65_536) {
    for (const m of Object.values(Method)) {
      const schema = (PAYLOADS as Record<string, Check<unknown>>)[m];
      if (schema) this.commands[m] = { schema, run: async () => ({ ok: true }) };
    }
  }

  async init(): Promise<void> {
    this.fresh = this.connection('fresh');
    [this.ready, this.readySocket] = await this.identified();
  }

  /** Feeds one frame to the ready connection (or, when `toFresh`, to one in HELLO). */
  async feed(bytes: Uint8Array, toFresh = false): Promise<void> {
    const conn = toFresh ? this.fresh : this.ready;
    const socket = toFresh ? this.freshSocket : this.readySocket;
    const before = socket.replies + socket.closes;
    this.frames++;
    conn.receive(bytes, true);
    // IDENTIFY/RESUME verify their token and requests run asynchronously: let them finish.
    for (let i = 0; i < 20 && socket.replies + socket.closes === before; i++) await null;
    for (let i = 0; i < 5 && socket.replies + socket.closes === before; i++) await new Promise((r) => setImmediate(r));
    const produced = socket.replies + socket.closes - before;
    assert.equal(produced, 1, `frame ${Buffer.from(bytes.subarray(0, 64)).toString('hex')} produced ${produced} replies/closes`);
    assert.equal(conn.pendingRequests, 0);
    if (socket.closes > 0) {
      this.closes++;
      if (toFresh) this.fresh = this.connection('fresh');
      else [this.ready, this.readySocket] = await this.identified();
    } else {
      this.replies++;
      if (toFresh && conn.isReady) this.fresh = this.connection('fresh'); // it identified: start over in HELLO
    }
  }

  dispose(): void {
    this.ready.closed();
    this.fresh.closed();
  }

  private connection(kind: 'fresh' | 'ready'): Connection {
    const socket = new CountingSocket();
    const conn = new Connection(this.nextId++, socket, {
      verifyToken: async (token) => {
        if (token === 'good-token') return { userId: '1001', sessionId: '2002' };
        throw new Error('bad token');
      },
      ready: async () => ({ payload: READY, topics: ['u:1001'] }),
      commands: this.commands,
      registry: this.registry,
      clock: { now: () => Date.now() },
      logger: pino({ level: 'silent' }),
      limits: { heartbeatIntervalMs: 30_000, maxFrameBytes: this.maxFrameBytes, identifyTimeoutMs: 3_600_000, maxBadFrames: 1e9 },
    });
    conn.open();
    socket.reset();
    if (kind === 'fresh') this.freshSocket = socket;
    return conn;
  }

  private async identified(): Promise<[Connection, CountingSocket]> {
    const conn = this.connection('ready');
    const socket = (conn as unknown as { socket: CountingSocket }).socket;
    conn.receive(encode([Op.IDENTIFY, { token: 'good-token' }]), true);
    for (let i = 0; i < 10 && !conn.isReady; i++) await new Promise((r) => setImmediate(r));
    assert.ok(conn.isReady);
    socket.reset();
    return [conn, socket];
  }
}

const READY: ReadyPayload = { sessionId: '2002', user: { id: '1001', nickname: 'ann', email: 'ann@example.com' }, guilds: [], dms: [], streams: {} } as unknown as ReadyPayload;

class CountingSocket implements GatewaySocket {
  replies = 0;
  closes = 0;
  send(frame: Uint8Array): void {
    const f = decode(frame) as unknown[];
    assert.ok(Array.isArray(f) && REPLIES.has(f[0] as number), `unexpected server frame ${JSON.stringify(f).slice(0, 100)}`);
    this.replies++;
  }
  close(): void {
    this.closes++;
  }
  subscribe(): void {}
  unsubscribe(): void {}
  reset(): void {
    this.replies = 0;
    this.closes = 0;
  }
}
