/**
 * A Guildhall gateway connection for the load generator: HELLO → IDENTIFY → READY, heartbeats at
 * 3/4 of the announced interval, REQUESTs with refs matched to OK/ERROR. DISPATCH frames are
 * counted from the msgpack array header alone (events = header count − 1); probes decode them with
 * the protocol's own codec. In `track` mode (reconnect scenario) a probe keeps READY's `resumeId`
 * and the position of every stream it got events of (walking the msgpack without decoding), and a
 * connection given `resumeFrom` sends RESUME with them instead of IDENTIFY (HELLO → RESUME →
 * replay → RESUMED).
 */
import { decode, encode, readDispatch } from '../../protocol/codec.ts';
import { Method, Op } from '../../protocol/opcodes.ts';
import type { ResumedPayload } from '../../protocol/resume.ts';
import type { HelloPayload, ReadyPayload } from '../../protocol/types.ts';
import { Conn, hrMs, messageContent } from './conn.ts';

/** What RESUME needs: READY's resumeId and the last position processed per stream. */
export interface GuildhallResumeState {
  resumeId: string;
  streams: Record<string, [epoch: number, seq: number]>;
}

const HEARTBEAT = encode([Op.HEARTBEAT]);

/** Opcode and element count of the msgpack array at `s`, or null when it is not an array. */
export function arrayHead(buf: Buffer, s: number, len: number): { count: number; op: number } | null {
  const b = buf[s]!;
  if ((b & 0xf0) === 0x90) return len >= 2 ? { count: b & 0x0f, op: buf[s + 1]! } : null;
  if (b === 0xdc) return len >= 4 ? { count: (buf[s + 1]! << 8) | buf[s + 2]!, op: buf[s + 3]! } : null;
  if (b === 0xdd) return len >= 6 ? { count: buf.readUInt32BE(s + 1), op: buf[s + 5]! } : null;
  return null;
}

/** The msgpack unsigned integer at `p` (positive fixint, uint8/16/32), or -1. */
export function readUint(buf: Buffer, p: number): number {
  const b = buf[p]!;
  if (b <= 0x7f) return b;
  if (b === 0xcc) return buf[p + 1]!;
  if (b === 0xcd) return buf.readUInt16BE(p + 1);
  if (b === 0xce) return buf.readUInt32BE(p + 1);
  return -1;
}

/** The msgpack number at `p` (any integer or float encoding), or NaN. */
function readNumber(buf: Buffer, p: number): number {
  const b = buf[p]!;
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 0x100;
  switch (b) {
    case 0xcc: return buf[p + 1]!;
    case 0xcd: return buf.readUInt16BE(p + 1);
    case 0xce: return buf.readUInt32BE(p + 1);
    case 0xcf: return Number(buf.readBigUInt64BE(p + 1));
    case 0xd0: return buf.readInt8(p + 1);
    case 0xd1: return buf.readInt16BE(p + 1);
    case 0xd2: return buf.readInt32BE(p + 1);
    case 0xd3: return Number(buf.readBigInt64BE(p + 1));
    case 0xca: return buf.readFloatBE(p + 1);
    case 0xcb: return buf.readDoubleBE(p + 1);
    default: return NaN;
  }
}

/** Offset just past the msgpack value at `p` (no decoding, no allocation). */
export function skipValue(buf: Buffer, p: number): number {
  const b = buf[p]!;
  if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return p + 1;
  if (b >= 0xa0 && b <= 0xbf) return p + 1 + (b & 0x1f);
  if (b >= 0x90 && b <= 0x9f) return skipMany(buf, p + 1, b & 0x0f);
  if (b >= 0x80 && b <= 0x8f) return skipMany(buf, p + 1, 2 * (b & 0x0f));
  switch (b) {
    case 0xcc: case 0xd0: return p + 2;
    case 0xcd: case 0xd1: return p + 3;
    case 0xce: case 0xd2: case 0xca: return p + 5;
    case 0xcf: case 0xd3: case 0xcb: return p + 9;
    case 0xd9: case 0xc4: return p + 2 + buf[p + 1]!;
    case 0xda: case 0xc5: return p + 3 + buf.readUInt16BE(p + 1);
    case 0xdb: case 0xc6: return p + 5 + buf.readUInt32BE(p + 1);
    case 0xd4: return p + 3;
    case 0xd5: return p + 4;
    case 0xd6: return p + 6;
    case 0xd7: return p + 10;
    case 0xd8: return p + 18;
    case 0xc7: return p + 3 + buf[p + 1]!;
    case 0xc8: return p + 4 + buf.readUInt16BE(p + 1);
    case 0xc9: return p + 6 + buf.readUInt32BE(p + 1);
    case 0xdc: return skipMany(buf, p + 3, buf.readUInt16BE(p + 1));
    case 0xdd: return skipMany(buf, p + 5, buf.readUInt32BE(p + 1));
    case 0xde: return skipMany(buf, p + 3, 2 * buf.readUInt16BE(p + 1));
    case 0xdf: return skipMany(buf, p + 5, 2 * buf.readUInt32BE(p + 1));
    default: throw new Error(`unexpected msgpack byte 0x${b.toString(16)}`);
  }
}

function skipMany(buf: Buffer, p: number, n: number): number {
  for (let i = 0; i < n; i++) p = skipValue(buf, p);
  return p;
}

/** Start and end of the msgpack string at `p`, or null. */
function stringAt(buf: Buffer, p: number): [number, number] | null {
  const b = buf[p]!;
  if (b >= 0xa0 && b <= 0xbf) return [p + 1, p + 1 + (b & 0x1f)];
  if (b === 0xd9) return [p + 2, p + 2 + buf[p + 1]!];
  if (b === 0xda) return [p + 3, p + 3 + buf.readUInt16BE(p + 1)];
  return null;
}

/**
 * Calls `fn(stream, epoch, seq)` for each event of a DISPATCH frame `[8, [type, stream, epoch,
 * seq, data], …]` that has a position (seq > 0), without decoding the events.
 */
export function forEachPosition(payload: Buffer, fn: (stream: string, epoch: number, seq: number) => void): void {
  const head = arrayHead(payload, 0, payload.length);
  if (!head) return;
  let p = payload[0]! <= 0x9f ? 2 : payload[0] === 0xdc ? 4 : 6;
  for (let i = 1; i < head.count; i++) {
    const b = payload[p]!;
    const start = p;
    if (b !== 0x95) {
      p = skipValue(payload, p);
      continue;
    }
    p = skipValue(payload, p + 1); // type
    const s = stringAt(payload, p);
    if (!s) {
      p = skipValue(payload, start);
      continue;
    }
    p = s[1];
    const epoch = readNumber(payload, p);
    p = skipValue(payload, p);
    const seq = readNumber(payload, p);
    p = skipValue(payload, p);
    p = skipValue(payload, p); // data
    if (seq > 0) fn(payload.toString('latin1', s[0], s[1]), epoch, seq);
  }
}

export class GuildhallConn extends Conn {
  private nextRef = 1;
  private readonly pending = new Map<number, number>();
  /** Bench seq of each MESSAGE_SEND in flight, by ref. */
  private readonly pendingSeq = new Map<number, number>();
  private resumeId: string | null = null;
  /** Last position processed per stream (`track` mode). */
  private positions = new Map<string, [number, number]>();
  private heartbeatEveryMs = 30_000;
  private nextHeartbeatAt = Infinity;

  protected onUpgraded(): void {
    // The server speaks first (HELLO).
  }

  classify(buf: Buffer, start: number, len: number): number {
    const b = buf[start]!;
    let count: number;
    let op: number;
    if ((b & 0xf0) === 0x90) {
      count = b & 0x0f;
      op = buf[start + 1]!;
    } else if (b === 0xdc) {
      count = (buf[start + 1]! << 8) | buf[start + 2]!;
      op = buf[start + 3]!;
    } else {
      return -1;
    }
    if (op === Op.DISPATCH && this.role !== 'probe') return count - 1;
    return -1;
  }

  full(payload: Buffer): void {
    const head = arrayHead(payload, 0, payload.length);
    if (!head) return this.error('frame is not a msgpack array');
    switch (head.op) {
      case Op.DISPATCH:
        return this.probeFrame(payload, head.count - 1, () =>
          readDispatch(decode(payload) as unknown[]).map((e) => (e.data as { content?: unknown } | null)?.content));
      case Op.OK:
        return this.settle(readUint(payload, 2), true);
      case Op.HEARTBEAT_ACK:
        return;
      case Op.HELLO: {
        const hello = (decode(payload) as [number, HelloPayload])[1];
        this.heartbeatEveryMs = Math.max(1000, Math.floor(hello.heartbeatIntervalMs * 0.75));
        this.nextHeartbeatAt = Date.now() + this.heartbeatEveryMs * (0.5 + Math.random() * 0.5);
        const from = this.resumeFrom as GuildhallResumeState | null;
        if (from) {
          this.resumeId = from.resumeId;
          this.positions = new Map(Object.entries(from.streams).map(([k, v]) => [k, [v[0], v[1]]]));
          this.ws!.sendBinary(encode([Op.RESUME, { resumeId: from.resumeId, token: this.spec.token, streams: from.streams }]));
        } else {
          this.ws!.sendBinary(encode([Op.IDENTIFY, { token: this.spec.token, client: 'guildhall-bench' }]));
        }
        return;
      }
      case Op.READY:
        if (this.host.probeMode() === 'track') {
          const ready = (decode(payload) as [number, ReadyPayload & { resumeId?: string }])[1];
          this.resumeId = ready.resumeId ?? null;
          for (const [name, pos] of Object.entries(ready.streams)) this.positions.set(name, [pos.epoch, pos.seq]);
        }
        return this.markReady();
      case Op.RESUMED: {
        const resumed = (decode(payload) as [number, ResumedPayload])[1];
        for (const r of resumed.resync) {
          if (r.epoch !== null && r.seq !== null) this.positions.set(r.stream, [r.epoch, r.seq]);
          else this.positions.delete(r.stream);
        }
        Object.assign(this.resumeOutcome, { recovered: true, replayed: resumed.replayed, resyncs: resumed.resync.length });
        return this.markReady();
      }
      case Op.ERROR: {
        const frame = decode(payload) as [number, number, number, string];
        this.error(`ERROR ${frame[2]}: ${frame[3]}`);
        if (frame[1] !== 0) this.settle(frame[1], false);
        if (!this.isReady) this.fail(new Error(`${this.resumeFrom ? 'RESUME' : 'IDENTIFY'} failed: ${frame[2]} ${frame[3]}`));
        return;
      }
      default:
        this.error(`unexpected opcode ${head.op}`);
    }
  }

  sendMessage(seq: number, sentAtMs: number, contentSize: number): void {
    const t = this.spec.target!;
    this.pendingSeq.set(this.nextRef, seq);
    this.request(Method.MESSAGE_SEND, { guildId: t.guildId, channelId: t.channelId, content: messageContent(sentAtMs, seq, contentSize) }, sentAtMs);
  }

  override resumeState(): GuildhallResumeState | null {
    if (!this.resumeId) return null;
    const streams: Record<string, [number, number]> = {};
    for (const [name, pos] of this.positions) streams[name] = [pos[0], pos[1]];
    return { resumeId: this.resumeId, streams };
  }

  /** Follows stream positions; chat messages are the events with a position on a guild stream. */
  protected override track(payload: Buffer): number {
    let messages = 0;
    forEachPosition(payload, (stream, epoch, seq) => {
      const mine = this.positions.get(stream);
      if (!mine || epoch > mine[0] || (epoch === mine[0] && seq > mine[1])) this.positions.set(stream, [epoch, seq]);
      if (stream.charCodeAt(0) === 0x67 /* g */) messages++;
    });
    return messages;
  }

  requestHistory(before: string | null, limit: number): void {
    const t = this.spec.target!;
    this.request(Method.MESSAGE_HISTORY, { guildId: t.guildId, channelId: t.channelId, before, limit }, hrMs());
  }

  override keepAlive(nowMs: number): void {
    if (!this.isReady || nowMs < this.nextHeartbeatAt) return;
    this.nextHeartbeatAt = nowMs + this.heartbeatEveryMs;
    this.ws?.sendBinary(HEARTBEAT);
  }

  private request(method: string, payload: unknown, sentAtMs: number): void {
    const ref = this.nextRef++;
    this.pending.set(ref, sentAtMs);
    this.inflight++;
    this.ws!.sendBinary(encode([Op.REQUEST, ref, method, payload]));
  }

  private settle(ref: number, ok: boolean): void {
    const sentAt = this.pending.get(ref);
    if (sentAt === undefined) return;
    this.pending.delete(ref);
    const seq = this.pendingSeq.get(ref);
    if (seq !== undefined) {
      this.pendingSeq.delete(ref);
      if (ok && seq > this.lastAckedSeq) this.lastAckedSeq = seq;
    }
    this.inflight--;
    this.counters.acks++;
    this.host.acked(this, sentAt, hrMs(), ok);
  }
}
