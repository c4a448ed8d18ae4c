/**
 * Pure msgpack codec for protocol v1 frames: no sockets, no clocks. Only plain msgpack goes on the
 * wire (no msgpackr records or extensions), so any msgpack library can speak the protocol.
 */
import { Packr, Unpackr } from 'msgpackr';
import { Op } from './opcodes.ts';
import type { DispatchEvent, Events } from './types.ts';

const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
// copyBuffers: bin values are copied out of the input, so a decoded value never aliases the
// receive buffer (uWS neuters it when the message handler returns).
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/** Nesting deeper than this is refused before any handler sees the value. */
export const MAX_DEPTH = 16;

/**
 * Map keys refused anywhere in a frame: `__proto__` would be renamed by msgpackr (or, decoded
 * naively, replace a prototype), and `constructor`/`prototype` shadow what code inspecting plain
 * objects relies on. No protocol field uses them.
 */
export const RESERVED_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

export type FrameErrorReason = 'malformed' | 'invalid';

export class FrameError extends Error {
  constructor(readonly reason: FrameErrorReason, message: string) {
    super(message);
  }
}

/** Encodes any plain value (arrays, maps with string keys, strings, numbers, booleans, nil, bin). */
export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/**
 * Decodes one frame's bytes into a plain value. The bytes are only read during the call, and the
 * result shares no memory with them. Throws FrameError('malformed') for bytes that are not exactly
 * one msgpack value (including truncation, lengths declared beyond the end of the frame, and str
 * that is not UTF-8), FrameError('invalid') for extension types, nesting beyond MAX_DEPTH,
 * non-string map keys, or RESERVED_KEYS. 64-bit integers outside the safe range become decimal
 * strings; every integer width decodes to the same value (see normalise).
 */
export function decode(bytes: Uint8Array): unknown {
  // msgpackr decodes its own extensions (records, bigint, typed arrays, undefined, …) into values
  // that look plain, and returns a marker object for 0xc1, so the frame is checked byte-wise first.
  // The scan allocates nothing, so a hostile header (say an array32 claiming 4 billion elements)
  // is refused before msgpackr could size anything by it.
  if (scan(bytes, 0, 0) !== bytes.length) throw new FrameError('malformed', 'a frame must hold exactly one msgpack value');
  let value: unknown;
  try {
    value = unpackr.unpack(bytes as Buffer);
  } catch {
    throw new FrameError('malformed', 'not a msgpack value');
  }
  return normalise(value, 0);
}

/**
 * Checks the header of a client frame, given its bytes and its decoded value: a msgpack array whose
 * first element, the opcode, is a positive fixint (one byte, 0x00–0x7f), and, when `refAt` is
 * given, whose element at that index (the ref) is a non-negative integer in its shortest encoding.
 * Returns null when canonical, else the problem. The header is the one place where encodings are
 * pinned: it routes the frame and may be read byte-wise (by proxies or a future fast path), so
 * each header value has exactly one encoding. Payload integers may use any width.
 */
export function headerProblem(bytes: Uint8Array, refAt?: number): string | null {
  let p = 0;
  const t = bytes[p++];
  if (t === undefined) return 'empty frame';
  if (t >= 0x90 && t <= 0x9f) {
    // fixarray
  } else if (t === 0xdc) p += 2;
  else if (t === 0xdd) p += 4;
  else return 'a frame is an array';
  const op = bytes[p];
  if (op === undefined || op > 0x7f) return 'the opcode must be a positive fixint (one byte, 0x00-0x7f)';
  if (refAt === undefined) return null;
  p++;
  for (let i = 1; i < refAt; i++) p = scan(bytes, p, 1);
  const r = bytes[p];
  if (r === undefined) return 'missing ref';
  if (r <= 0x7f) return null;
  const width = r === 0xcc ? 1 : r === 0xcd ? 2 : r === 0xce ? 4 : 0;
  if (width === 0) return 'the ref must be an unsigned integer in its shortest encoding';
  const v = uint(bytes, p + 1, width);
  const min = width === 1 ? 0x80 : width === 2 ? 0x100 : 0x10000;
  return v >= min ? null : 'the ref must be an unsigned integer in its shortest encoding';
}

const truncated = () => new FrameError('malformed', 'not a msgpack value (truncated)');
const overlong = (what: string) => new FrameError('malformed', `not a msgpack value (${what} declares more than the frame holds)`);

function skip(b: Uint8Array, p: number, n: number): number {
  if (p + n > b.length) throw truncated();
  return p + n;
}

/** Skips a str or bin of `n` bytes at `p`, refusing a length beyond the frame before reading it. */
function skipBytes(b: Uint8Array, p: number, n: number, isStr: boolean): number {
  if (p + n > b.length) throw overlong(isStr ? 'str' : 'bin');
  if (isStr && n > 0 && !isUtf8(b, p, p + n)) throw new FrameError('malformed', 'str is not valid UTF-8');
  return p + n;
}

/** Big-endian unsigned integer of `n` (1, 2 or 4) bytes at `p`. */
function uint(b: Uint8Array, p: number, n: number): number {
  if (p + n > b.length) throw truncated();
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + b[p + i]!;
  return v;
}

/**
 * Walks the msgpack value at `p` (at nesting `depth`) without building it and returns the offset
 * after it; throws FrameError for truncation, 0xc1, extensions, non-string or reserved keys,
 * invalid UTF-8, declared lengths beyond the frame, or deep nesting.
 */
function scan(b: Uint8Array, p: number, depth: number): number {
  if (depth > MAX_DEPTH) throw new FrameError('invalid', `nesting deeper than ${MAX_DEPTH}`);
  if (p >= b.length) throw truncated();
  const t = b[p++]!;
  if (t <= 0x7f || t >= 0xe0) return p; // positive / negative fixint
  if (t <= 0x8f) return scanMap(b, p, t & 0x0f, depth);
  if (t <= 0x9f) return scanArray(b, p, t & 0x0f, depth);
  if (t <= 0xbf) return skipBytes(b, p, t & 0x1f, true); // fixstr
  switch (t) {
    case 0xc0: // nil
    case 0xc2: // false
    case 0xc3: // true
      return p;
    case 0xc4: // bin 8
      return skipBytes(b, p + 1, uint(b, p, 1), false);
    case 0xc5: // bin 16
      return skipBytes(b, p + 2, uint(b, p, 2), false);
    case 0xc6: // bin 32
      return skipBytes(b, p + 4, uint(b, p, 4), false);
    case 0xd9: // str 8
      return skipBytes(b, p + 1, uint(b, p, 1), true);
    case 0xda: // str 16
      return skipBytes(b, p + 2, uint(b, p, 2), true);
    case 0xdb: // str 32
      return skipBytes(b, p + 4, uint(b, p, 4), true);
    case 0xcc: // uint 8
    case 0xd0: // int 8
      return skip(b, p, 1);
    case 0xcd: // uint 16
    case 0xd1: // int 16
      return skip(b, p, 2);
    case 0xca: // float 32
    case 0xce: // uint 32
    case 0xd2: // int 32
      return skip(b, p, 4);
    case 0xcb: // float 64
    case 0xcf: // uint 64
    case 0xd3: // int 64
      return skip(b, p, 8);
    case 0xdc:
      return scanArray(b, p + 2, uint(b, p, 2), depth);
    case 0xdd:
      return scanArray(b, p + 4, uint(b, p, 4), depth);
    case 0xde:
      return scanMap(b, p + 2, uint(b, p, 2), depth);
    case 0xdf:
      return scanMap(b, p + 4, uint(b, p, 4), depth);
    case 0xc1:
      throw new FrameError('malformed', 'not a msgpack value (0xc1 is never used)');
    default: // 0xc7..0xc9 ext 8/16/32, 0xd4..0xd8 fixext
      throw new FrameError('invalid', 'msgpack extension types are not allowed');
  }
}

function scanArray(b: Uint8Array, p: number, n: number, depth: number): number {
  // Every element takes at least one byte.
  if (n > b.length - p) throw overlong('array');
  for (let i = 0; i < n; i++) p = scan(b, p, depth + 1);
  return p;
}

function scanMap(b: Uint8Array, p: number, n: number, depth: number): number {
  // Every entry takes at least two bytes (a fixstr key and a fixint value).
  if (n * 2 > b.length - p) throw overlong('map');
  for (let i = 0; i < n; i++) {
    if (p >= b.length) throw truncated();
    const k = b[p]!;
    if (!((k >= 0xa0 && k <= 0xbf) || k === 0xd9 || k === 0xda || k === 0xdb)) throw new FrameError('invalid', 'map keys must be strings');
    const end = scan(b, p, depth + 1);
    if (isReservedKey(b, p, end)) throw new FrameError('invalid', `map key ${JSON.stringify(RESERVED_KEYS)} is reserved`);
    p = scan(b, end, depth + 1);
  }
  return p;
}

/** True when the str at [start, end) is one of RESERVED_KEYS (all are 9 or 11 ASCII bytes). */
function isReservedKey(b: Uint8Array, start: number, end: number): boolean {
  const len = b[start]! >= 0xa0 && b[start]! <= 0xbf ? b[start]! & 0x1f : -1;
  if (len !== 9 && len !== 11) return len === -1 ? isReservedLongKey(b, start, end) : false;
  return RESERVED_BYTES.some((k) => k.length === len && bytesEqual(b, start + 1, k));
}

/** A reserved key sent with a str8/16/32 header (non-canonical, but still a key). */
function isReservedLongKey(b: Uint8Array, start: number, end: number): boolean {
  const header = b[start] === 0xd9 ? 2 : b[start] === 0xda ? 3 : 5;
  const len = end - start - header;
  return RESERVED_BYTES.some((k) => k.length === len && bytesEqual(b, start + header, k));
}

/**
 * Strict UTF-8 check of b[start, end) (no overlong forms, no surrogates, nothing above U+10FFFF),
 * in plain JavaScript so the codec runs in browsers too. ASCII takes the first loop only.
 */
function isUtf8(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end && b[i]! < 0x80) i++;
  while (i < end) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    // n continuation bytes follow; min is the smallest code point that needs this length.
    let n: number, min: number, cp: number;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1; min = 0x80; cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2; min = 0x800; cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3; min = 0x10000; cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= end) return false;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

const RESERVED_BYTES = RESERVED_KEYS.map((k) => new TextEncoder().encode(k));

function bytesEqual(b: Uint8Array, at: number, k: Uint8Array): boolean {
  for (let i = 0; i < k.length; i++) if (b[at + i] !== k[i]) return false;
  return true;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function normalise(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new FrameError('invalid', `nesting deeper than ${MAX_DEPTH}`);
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return value;
    case 'bigint':
      return value >= -MAX_SAFE && value <= MAX_SAFE ? Number(value) : value.toString();
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) value[i] = normalise(value[i], depth + 1);
        return value;
      }
      if (value instanceof Uint8Array) return value;
      if (Object.getPrototypeOf(value) !== Object.prototype) throw new FrameError('invalid', 'msgpack extension types are not allowed');
      const obj = value as Record<string, unknown>;
      for (const key of Object.keys(obj)) obj[key] = normalise(obj[key], depth + 1);
      return obj;
    }
    default:
      return null;
  }
}

/** Encodings kept by shareEncoding, keyed by the value they encode. */
const shared = new WeakMap<object, Uint8Array>();

/**
 * Encodes `value` now and lets encodeEvent and encodeOk splice those bytes in wherever this same
 * object is their data or result — a new message is encoded once for its MESSAGE_CREATE and its
 * ack. The object must not be mutated afterwards. Returns the value.
 */
export function shareEncoding<T extends object>(value: T): T {
  shared.set(value, packr.pack(value));
  return value;
}

/** The bytes shareEncoding kept for `value`, if it is such an object. */
function sharedBytes(value: unknown): Uint8Array | undefined {
  return typeof value === 'object' && value !== null ? shared.get(value) : undefined;
}

/** `head` (an encoded array of n − 1 items) with `tail` appended as its n-th item. */
function appendItem(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out[0]! += 1; // fixarray header: one more item
  out.set(tail, head.length);
  return out;
}

/** Encodes `[type, stream, epoch, seq, data]`, the unit that DISPATCH frames concatenate. */
export function encodeEvent(type: string, stream: string, epoch: number, seq: number, data: unknown): Uint8Array {
  const bytes = sharedBytes(data);
  if (bytes) return appendItem(packr.pack([type, stream, epoch, seq]), bytes);
  return packr.pack([type, stream, epoch, seq, data]);
}

/**
 * The stream name of an encoded event (see encodeEvent), read from its bytes without decoding the
 * rest: the fan-out uses it to keep each stream's events in order. '' if the bytes are not an event.
 */
export function eventStreamKey(event: Uint8Array): string {
  if (event[0] !== 0x95) return '';
  const type = strAt(event, 1);
  if (!type) return '';
  const stream = strAt(event, type.end);
  if (!stream) return '';
  let key = '';
  for (let i = stream.start; i < stream.end; i++) key += String.fromCharCode(event[i]!);
  return key;
}

/** The [start, end) of the str value at `p`, or null when there is no str there. */
function strAt(b: Uint8Array, p: number): { start: number; end: number } | null {
  const t = b[p];
  if (t === undefined) return null;
  let start: number;
  let n: number;
  if (t >= 0xa0 && t <= 0xbf) {
    start = p + 1;
    n = t & 0x1f;
  } else if (t === 0xd9 && p + 1 < b.length) {
    start = p + 2;
    n = b[p + 1]!;
  } else if (t === 0xda && p + 2 < b.length) {
    start = p + 3;
    n = (b[p + 1]! << 8) | b[p + 2]!;
  } else {
    return null;
  }
  return start + n <= b.length ? { start, end: start + n } : null;
}

/**
 * Builds one DISPATCH frame `[8, e1, e2, …]` from already-encoded events by writing an array
 * header and concatenating the bytes: events are encoded once however many frames carry them.
 */
export function encodeDispatch(events: readonly Uint8Array[]): Uint8Array {
  const n = events.length + 1;
  let size = n <= 15 ? 1 : n <= 0xffff ? 3 : 5;
  const headerSize = size + 1;
  for (const e of events) size += e.length;
  const out = new Uint8Array(size + 1);
  let o = 0;
  if (n <= 15) out[o++] = 0x90 | n;
  else if (n <= 0xffff) {
    out[o++] = 0xdc;
    out[o++] = n >> 8;
    out[o++] = n & 0xff;
  } else {
    out[o++] = 0xdd;
    out[o++] = (n >>> 24) & 0xff;
    out[o++] = (n >>> 16) & 0xff;
    out[o++] = (n >>> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  out[o++] = Op.DISPATCH;
  o = headerSize;
  for (const e of events) {
    out.set(e, o);
    o += e.length;
  }
  return out;
}

/** Reads the events of a decoded DISPATCH frame (`frame[0] === Op.DISPATCH`). */
export function readDispatch(frame: unknown[]): DispatchEvent[] {
  const out: DispatchEvent[] = [];
  for (let i = 1; i < frame.length; i++) {
    const e = frame[i];
    if (!Array.isArray(e) || e.length !== 5) throw new FrameError('invalid', 'dispatch event must be [type, stream, epoch, seq, data]');
    out.push({ type: e[0] as keyof Events, stream: e[1], epoch: e[2], seq: e[3], data: e[4] });
  }
  return out;
}

export const encodeHello = (payload: unknown) => encode([Op.HELLO, payload]);
export const encodeReady = (payload: unknown) => encode([Op.READY, payload]);
export const encodeResumed = (payload: unknown) => encode([Op.RESUMED, payload]);
export function encodeOk(ref: number, result: unknown): Uint8Array {
  const bytes = sharedBytes(result);
  if (bytes) return appendItem(packr.pack([Op.OK, ref]), bytes);
  return encode([Op.OK, ref, result ?? null]);
}
export const encodeError = (ref: number, code: number, message: string, details: unknown = null) =>
  encode([Op.ERROR, ref, code, message, details]);
export const HEARTBEAT_ACK_FRAME = encode([Op.HEARTBEAT_ACK]);
