import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  shareEncoding,
  decode,
  encode,
  encodeDispatch,
  encodeError,
  encodeEvent,
  encodeHello,
  encodeOk,
  encodeReady,
  FrameError,
  HEARTBEAT_ACK_FRAME,
  headerProblem,
  MAX_DEPTH,
  readDispatch,
} from '../../protocol/codec.ts';
import { ErrorCode, Op } from '../../protocol/opcodes.ts';

const bytes = (...b: number[]) => Uint8Array.from(b);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const str = (s: string) => [0xa0 | s.length, ...Buffer.from(s)];

function rejects(input: Uint8Array, reason: 'malformed' | 'invalid') {
  assert.throws(() => decode(input), (err: unknown) => {
    assert.ok(err instanceof FrameError, `expected FrameError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    return true;
  });
}

describe('codec frames', () => {
  it('round-trips HELLO, READY, OK, ERROR and HEARTBEAT_ACK', () => {
    const hello = { v: 1, heartbeatIntervalMs: 30_000, maxFrameBytes: 65_536 };
    assert.deepEqual(decode(encodeHello(hello)), [Op.HELLO, hello]);

    const ready = { sessionId: '77', user: { id: '1', nickname: 'ann' }, guilds: [], dms: [], streams: { 'u:1': { epoch: 3, seq: 9 } } };
    assert.deepEqual(decode(encodeReady(ready)), [Op.READY, ready]);

    assert.deepEqual(decode(encodeOk(12, { id: '5', names: ['a', 'b'] })), [Op.OK, 12, { id: '5', names: ['a', 'b'] }]);
    assert.deepEqual(decode(encodeOk(13, undefined)), [Op.OK, 13, null]);

    assert.deepEqual(decode(encodeError(4, ErrorCode.INVALID_PAYLOAD, 'bad', { field: 'name', reason: 'too short' })), [
      Op.ERROR, 4, ErrorCode.INVALID_PAYLOAD, 'bad', { field: 'name', reason: 'too short' },
    ]);
    assert.deepEqual(decode(encodeError(0, ErrorCode.MALFORMED_FRAME, 'nope')), [Op.ERROR, 0, ErrorCode.MALFORMED_FRAME, 'nope', null]);

    assert.deepEqual(decode(HEARTBEAT_ACK_FRAME), [Op.HEARTBEAT_ACK]);
    assert.equal(hex(HEARTBEAT_ACK_FRAME), '9104');
  });

  it('round-trips scalars, binary data and nested containers', () => {
    const value = { s: 'héllo', n: -17, f: 1.5, t: true, z: null, big: 2 ** 40, list: [1, [2, [3]]], bin: bytes(1, 2, 3) };
    const out = decode(encode(value)) as Record<string, unknown>;
    assert.deepEqual({ ...out, bin: Array.from(out.bin as Uint8Array) }, { ...value, bin: [1, 2, 3] });
    assert.ok(out.bin instanceof Uint8Array);
  });

  it('encodes repeated map shapes as plain maps, never msgpackr records', () => {
    // Same shape three times in one value, and again in separate calls.
    assert.equal(hex(encode([{ a: 1, b: 2 }, { a: 3, b: 4 }, { a: 5, b: 6 }])), '93' + '82a16101a16202' + '82a16103a16204' + '82a16105a16206');
    for (let i = 0; i < 3; i++) assert.equal(hex(encode({ a: 1, b: 2 })), '82a16101a16202');
    const items = Array.from({ length: 40 }, (_, i) => ({ id: String(i), kind: 'x', n: i }));
    const many = encode(items);
    for (let i = 0; i + 1 < many.length; i++) {
      assert.ok(!(many[i]! >= 0xd4 && many[i]! <= 0xd8 && many[i + 1] === 0x72), `record extension at byte ${i}`);
    }
    // array16 header, then each element exactly as a stand-alone plain fixmap (0x83 …)
    const expected = 'dc0028' + items.map((o) => '83a2' + hex(Buffer.from('id')) + hex(encode(o.id)) + 'a46b696e64a178a16e' + hex(encode(o.n))).join('');
    assert.equal(hex(many), expected);
  });

  it('encodes undefined map values as nil', () => {
    assert.deepEqual(decode(encode({ a: undefined, b: 1 })), { a: null, b: 1 });
  });
});

describe('encodeDispatch', () => {
  const makeEvents = (n: number) =>
    Array.from({ length: n }, (_, i) => ['MESSAGE_CREATE', 'g:42', 2, i + 1, { id: String(1000 + i), content: `m${i}` }] as const);

  const cases: [count: number, header: string][] = [
    [1, '92'],
    [14, '9f'], // 15 elements in total: the largest fixarray
    [15, 'dc0010'], // 16 elements: array16
    [16, 'dc0011'],
    [70_000, 'dd00011171'], // 70001 elements: array32
  ];
  for (const [count, header] of cases) {
    it(`frames ${count} event(s) exactly like encoding the array directly`, () => {
      const events = makeEvents(count);
      const frame = encodeDispatch(events.map((e) => encodeEvent(...e)));
      assert.equal(hex(frame.subarray(0, header.length / 2)), header);
      assert.equal(frame[header.length / 2], Op.DISPATCH);
      const direct = encode([Op.DISPATCH, ...events]);
      assert.equal(Buffer.compare(Buffer.from(frame), Buffer.from(direct)), 0);
      const decoded = decode(frame) as unknown[];
      assert.equal(decoded.length, count + 1);
      assert.equal(decoded[0], Op.DISPATCH);
      assert.deepEqual(decoded[count], events[count - 1]);
    });
  }

  it('readDispatch turns a decoded frame into events', () => {
    const frame = decode(encodeDispatch(makeEvents(2).map((e) => encodeEvent(...e)))) as unknown[];
    assert.deepEqual(readDispatch(frame), [
      { type: 'MESSAGE_CREATE', stream: 'g:42', epoch: 2, seq: 1, data: { id: '1000', content: 'm0' } },
      { type: 'MESSAGE_CREATE', stream: 'g:42', epoch: 2, seq: 2, data: { id: '1001', content: 'm1' } },
    ]);
    assert.deepEqual(readDispatch([Op.DISPATCH]), []);
    assert.throws(() => readDispatch([Op.DISPATCH, ['T', 'g:1', 1]]), (e: unknown) => e instanceof FrameError && e.reason === 'invalid');
  });
});

describe('decode rejects', () => {
  it('bytes that are not msgpack as malformed', () => {
    rejects(bytes(0xc1), 'malformed'); // the "never used" byte
    rejects(bytes(0x92, 0xc1, 0x01), 'malformed');
    rejects(bytes(0x82, ...str('a')), 'malformed'); // map truncated after its first key
    rejects(bytes(0xa5, 0x61), 'malformed'); // string shorter than its header
    rejects(bytes(0xdc, 0x00), 'malformed'); // truncated array16 header
    rejects(bytes(), 'malformed');
  });

  it('two concatenated values as malformed', () => {
    rejects(bytes(0x01, 0x02), 'malformed');
    rejects(new Uint8Array([...encode([3]), ...encode([3])]), 'malformed');
  });

  it('extension types as invalid, whether or not msgpackr knows them', () => {
    rejects(bytes(0xd4, 0x05, 0x01), 'invalid'); // fixext1 type 5
    rejects(bytes(0xd6, 0xff, 0x00, 0x00, 0x00, 0x01), 'invalid'); // timestamp32
    rejects(bytes(0xc7, 0x01, 0x05, 0x00), 'invalid'); // ext8
    rejects(bytes(0xd4, 0x00, 0x00), 'invalid'); // msgpackr: undefined
    rejects(bytes(0xd4, 0x42, 0x07), 'invalid'); // msgpackr: bigint
    rejects(bytes(0xd5, 0x74, 0x01, 0x09), 'invalid'); // msgpackr: typed array
    rejects(bytes(0xd4, 0x72, 0x40, 0x91, ...str('a'), 0x05), 'invalid'); // msgpackr: record definition
    rejects(bytes(0x91, 0xd4, 0x73, 0x90), 'invalid'); // nested msgpackr Set
  });

  it('maps with non-string keys as invalid', () => {
    rejects(bytes(0x81, 0x01, 0x02), 'invalid');
    rejects(bytes(0x81, 0x90, 0x02), 'invalid');
  });

  it(`nesting deeper than MAX_DEPTH (${MAX_DEPTH}) as invalid`, () => {
    const arrays = (levels: number) => new Uint8Array([...Array(levels).fill(0x91), 0x01]);
    const maps = (levels: number) => new Uint8Array([...Array(levels).fill([0x81, ...str('k')]).flat(), 0x01]);
    assert.equal(JSON.stringify(decode(arrays(MAX_DEPTH))), '['.repeat(MAX_DEPTH) + '1' + ']'.repeat(MAX_DEPTH));
    rejects(arrays(MAX_DEPTH + 1), 'invalid');
    assert.ok(decode(maps(MAX_DEPTH)));
    rejects(maps(MAX_DEPTH + 1), 'invalid');
    rejects(arrays(200_000), 'invalid'); // no stack overflow on hostile depth
  });
});

describe('decode values', () => {
  it('returns 64-bit integers beyond the safe range as exact decimal strings', () => {
    const u64 = (v: bigint) => {
      const b = Buffer.alloc(9);
      b[0] = 0xcf;
      b.writeBigUInt64BE(v, 1);
      return b;
    };
    assert.equal(decode(u64(2n ** 53n + 1n)), '9007199254740993');
    assert.equal(decode(u64(2n ** 64n - 1n)), '18446744073709551615');
    assert.equal(decode(u64(5n)), 5); // safe values stay numbers, whatever width they were sent in
    const i64 = Buffer.alloc(9);
    i64[0] = 0xd3;
    i64.writeBigInt64BE(-(2n ** 60n), 1);
    assert.equal(decode(i64), '-1152921504606846976');
  });

  it('refuses __proto__, constructor and prototype keys at any depth, so nothing reaches an object', () => {
    const polluting = [
      bytes(0x82, ...str('__proto__'), 0x81, ...str('polluted'), 0xc3, ...str('x'), 0x01),
      bytes(0x81, ...str('constructor'), 0x81, ...str('prototype'), 0x81, ...str('polluted'), 0xc3),
      bytes(0x92, 0x05, 0x81, ...str('prototype'), 0x01),
      // the same keys behind non-canonical str8 / str16 headers
      bytes(0x81, 0xd9, 9, ...Buffer.from('__proto__'), 0x81, ...str('polluted'), 0xc3),
      bytes(0x81, 0xda, 0, 11, ...Buffer.from('constructor'), 0x01),
    ];
    for (const frame of polluting) rejects(frame, 'invalid');
    assert.equal(({} as any).polluted, undefined);
    assert.equal((Object.prototype as any).polluted, undefined);
    // as values (not keys) these words are ordinary strings
    assert.deepEqual(decode(encode({ name: '__proto__', k: ['constructor'] })), { name: '__proto__', k: ['constructor'] });
    // near misses are ordinary keys
    assert.deepEqual(decode(encode({ __proto: 1, constructors: 2, Prototype: 3 })), { __proto: 1, constructors: 2, Prototype: 3 });
  });

  it('returns bin values that share no memory with the input', () => {
    const input = new Uint8Array(encode([1, new Uint8Array([1, 2, 3])]));
    const out = decode(input) as [number, Uint8Array];
    input.fill(0);
    assert.deepEqual(Array.from(out[1]), [1, 2, 3]);
  });
});

describe('decode refuses hostile lengths and encodings', () => {
  const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  it('a str32/bin32/array32/map32 header claiming more than the frame holds, without allocating it', () => {
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 2000; i++) {
      rejects(bytes(0xdb, ...u32(0xffffffff), 0x61), 'malformed'); // str32 of 4 GiB
      rejects(bytes(0xc6, ...u32(0x7fffffff), 0x00), 'malformed'); // bin32 of 2 GiB
      rejects(bytes(0xdd, ...u32(0xffffffff), 0x01, 0x02), 'malformed'); // array32 of 4 billion
      rejects(bytes(0xdf, ...u32(0xffffffff), ...str('a'), 0x01), 'malformed'); // map32 of 4 billion
      rejects(bytes(0x92, 0xdc, 0xff, 0xff, 0x01), 'malformed'); // nested array16
      rejects(bytes(0xda, 0x10, 0x00, 0x61), 'malformed'); // str16 of 4 KiB
    }
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
    assert.throws(() => decode(bytes(0xdd, ...u32(3), 0x01)), /declares more than the frame holds/);
  });

  it('str that is not UTF-8 (overlong, surrogate, truncated, above U+10FFFF)', () => {
    for (const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xff], [0x61, 0x80]]) {
      rejects(bytes(0xa0 | bad.length, ...bad), 'malformed');
    }
    const multi = 'zß水🀄€';
    assert.equal(decode(encode(multi)), multi);
  });

  it('any integer width decodes to the same value in payloads', () => {
    const five = [bytes(0x05), bytes(0xcc, 5), bytes(0xcd, 0, 5), bytes(0xce, 0, 0, 0, 5), bytes(0xcf, 0, 0, 0, 0, 0, 0, 0, 5), bytes(0xd0, 5), bytes(0xd3, 0, 0, 0, 0, 0, 0, 0, 5)];
    for (const b of five) assert.equal(decode(b), 5);
  });
});

describe('headerProblem (canonical frame headers)', () => {
  it('accepts the shortest encodings of opcode and ref', () => {
    assert.equal(headerProblem(encode([3])), null);
    for (const ref of [1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1]) {
      assert.equal(headerProblem(encode([5, ref, 'm', {}]), 1), null, `ref ${ref}`);
    }
    const big = encode([5, 1, ...Array(20).fill(0)]); // array16 header
    assert.equal(headerProblem(big, 1), null);
  });

  it('refuses an opcode that is not a positive fixint', () => {
    assert.match(headerProblem(bytes(0x91, 0xcc, 0x03)) ?? '', /opcode/); // uint8 3
    assert.match(headerProblem(bytes(0x91, 0xd0, 0x03)) ?? '', /opcode/); // int8 3
    assert.match(headerProblem(bytes(0x91, 0xcb, 0x40, 0x08, 0, 0, 0, 0, 0, 0)) ?? '', /opcode/); // float64 3.0
    assert.match(headerProblem(encode({ op: 3 })) ?? '', /array/);
  });

  it('refuses a ref in a wider encoding than needed, or as a float or negative number', () => {
    assert.match(headerProblem(bytes(0x94, 0x05, 0xcc, 0x05, 0xa1, 0x6d, 0x80), 1) ?? '', /shortest/); // uint8 5
    assert.match(headerProblem(bytes(0x94, 0x05, 0xcd, 0x00, 0xff, 0xa1, 0x6d, 0x80), 1) ?? '', /shortest/); // uint16 255
    assert.match(headerProblem(bytes(0x94, 0x05, 0xcf, 0, 0, 0, 0, 0, 0, 0, 7, 0xa1, 0x6d, 0x80), 1) ?? '', /shortest/); // uint64 7
    assert.match(headerProblem(bytes(0x94, 0x05, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xa1, 0x6d, 0x80), 1) ?? '', /shortest/); // float64 1.0
    assert.match(headerProblem(bytes(0x94, 0x05, 0xff, 0xa1, 0x6d, 0x80), 1) ?? '', /shortest/); // -1
  });
});

describe('shareEncoding', () => {
  it('splices the shared bytes into events and OK replies, byte for byte what a plain encode gives', () => {
    const message = { id: '123456789012345678', content: 'héllo', mentions: { users: [], everyone: false }, n: 2 ** 40 };
    const plainEvent = encodeEvent('MESSAGE_CREATE', 'g:1', 3, 70000, { ...message });
    const plainOk = encodeOk(4_000_000_000, { ...message });
    shareEncoding(message);
    assert.deepEqual(Buffer.from(encodeEvent('MESSAGE_CREATE', 'g:1', 3, 70000, message)), Buffer.from(plainEvent));
    assert.deepEqual(Buffer.from(encodeOk(4_000_000_000, message)), Buffer.from(plainOk));
    assert.deepEqual(decode(encodeOk(7, message)), [Op.OK, 7, message]);
  });
});
