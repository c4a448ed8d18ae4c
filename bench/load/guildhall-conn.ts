/**
 * A Guildhall gateway connection for the load generator: HELLO → IDENTIFY → READY, heartbeats at
 * 3/4 of the announced interval, REQUESTs with refs matched to OK/ERROR. DISPATCH frames are
 * counted from the msgpack array header alone (events = header count − 1); probes decode them with
 * the protocol's own codec.
 */
import { decode, encode, readDispatch } from '../../protocol/codec.ts';
import { Method, Op } from '../../protocol/opcodes.ts';
import type { HelloPayload } from '../../protocol/types.ts';
import { Conn, hrMs, messageContent } from './conn.ts';

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

export class GuildhallConn extends Conn {
  private nextRef = 1;
  private readonly pending = new Map<number, number>();
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
        this.ws!.sendBinary(encode([Op.IDENTIFY, { token: this.spec.token, client: 'guildhall-bench' }]));
        return;
      }
      case Op.READY:
        return this.markReady();
      case Op.ERROR: {
        const frame = decode(payload) as [number, number, number, string];
        this.error(`ERROR ${frame[2]}: ${frame[3]}`);
        if (frame[1] !== 0) this.settle(frame[1], false);
        if (!this.isReady) this.fail(new Error(`IDENTIFY failed: ${frame[2]} ${frame[3]}`));
        return;
      }
      default:
        this.error(`unexpected opcode ${head.op}`);
    }
  }

  sendMessage(seq: number, sentAtMs: number, contentSize: number): void {
    const t = this.spec.target!;
    this.request(Method.MESSAGE_SEND, { guildId: t.guildId, channelId: t.channelId, content: messageContent(sentAtMs, seq, contentSize) }, sentAtMs);
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
    this.inflight--;
    this.counters.acks++;
    this.host.acked(this, sentAt, hrMs(), ok);
  }
}
