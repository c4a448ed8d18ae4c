/**
 * A Socket.IO 4 client connection for the load generator, speaking Engine.IO v4 over a raw
 * WebSocket (`/socket.io/?EIO=4&transport=websocket`): open packet `0{…}`, namespace connect
 * `40{auth}` → `40{sid}`, pings `2` answered with `3`, events `42[…]`, acks `43<id>[…]`. Event
 * frames are counted from their first two bytes; probes JSON-parse them. With the server's
 * connection state recovery on, every room event ends with its offset (`42["m",{…},"<offset>"]`):
 * in `track` mode a probe keeps the last one, and a connection given `resumeFrom` sends the
 * previous `pid` and that offset in its CONNECT auth; the server replays the missed events before
 * its CONNECT reply, whose `pid` tells whether the state was recovered.
 */
import { Conn, hrMs, messageContent } from './conn.ts';

const C_4 = 0x34;
const C_2 = 0x32;
const C_3 = 0x33;

/** What Socket.IO's connection state recovery needs: the private session id and the last offset. */
export interface SocketioResumeState {
  pid: string;
  offset: string;
}

export class SocketioConn extends Conn {
  private nextAck = 1;
  private readonly pending = new Map<number, number>();
  /** Bench seq of each `send` in flight, by ack id. */
  private readonly pendingSeq = new Map<number, number>();
  private pid: string | null = null;
  private offset: string | null = null;

  protected onUpgraded(): void {
    // The server speaks first (Engine.IO open packet).
  }

  classify(buf: Buffer, start: number, len: number, isBinary: boolean): number {
    if (!isBinary && len >= 2 && buf[start] === C_4 && buf[start + 1] === C_2 && this.role !== 'probe') return 1;
    return -1;
  }

  full(payload: Buffer): void {
    const text = payload.toString('utf8');
    const c0 = text.charCodeAt(0);
    if (c0 === C_2 && text.length === 1) {
      this.ws!.sendText('3'); // Engine.IO pong
      return;
    }
    if (c0 === 0x30) {
      // Engine.IO open: connect to the default namespace with the auth payload.
      const from = this.resumeFrom as SocketioResumeState | null;
      const auth = { token: this.spec.token, rooms: this.spec.rooms ?? [], ...(from ? { pid: from.pid, offset: from.offset } : {}) };
      this.ws!.sendText(`40${JSON.stringify(auth)}`);
      return;
    }
    if (c0 !== C_4) return;
    const c1 = text.charCodeAt(1);
    if (c1 === 0x30) {
      // 40{sid, pid?}
      const reply = JSON.parse(text.slice(2) || '{}') as { pid?: unknown };
      this.pid = typeof reply.pid === 'string' ? reply.pid : null;
      const from = this.resumeFrom as SocketioResumeState | null;
      if (from) {
        this.resumeOutcome.recovered = this.pid !== null && this.pid === from.pid;
        this.offset = from.offset;
      }
      return this.markReady();
    }
    if (c1 === 0x34) {
      this.fail(new Error(`connect refused: ${text.slice(2, 200)}`)); // 44{message}
      return;
    }
    if (c1 === C_2) {
      if (!this.isReady) this.resumeOutcome.replayed++; // recovered events precede the CONNECT reply
      return this.probeFrame(payload, 1, () => {
        const [, message] = JSON.parse(text.slice(2)) as [string, { content?: unknown }];
        return [message?.content];
      });
    }
    if (c1 === C_3) {
      let i = 2;
      let id = 0;
      for (; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c < 0x30 || c > 0x39) break;
        id = id * 10 + (c - 0x30);
      }
      const ok = !text.startsWith('[{"error"', i);
      if (!ok) this.error(`ack error: ${text.slice(i, i + 200)}`);
      this.settle(id, ok);
    }
  }

  sendMessage(seq: number, sentAtMs: number, contentSize: number): void {
    const room = this.spec.target!.channelId;
    this.pendingSeq.set(this.nextAck, seq);
    this.emit('send', { room, content: messageContent(sentAtMs, seq, contentSize) }, sentAtMs);
  }

  override resumeState(): SocketioResumeState | null {
    return this.pid !== null && this.offset !== null ? { pid: this.pid, offset: this.offset } : null;
  }

  /** Keeps the offset the server appends to every room event when connection state recovery is on. */
  protected override track(payload: Buffer, deliveries: number): number {
    const n = payload.length;
    if (n > 4 && payload[n - 1] === 0x5d /* ] */ && payload[n - 2] === 0x22 /* " */) {
      const q = payload.lastIndexOf(0x22, n - 3);
      if (q > 0 && payload[q - 1] === 0x2c /* , */) this.offset = payload.toString('latin1', q + 1, n - 2);
    }
    return deliveries;
  }

  requestHistory(before: string | null, limit: number): void {
    this.emit('history', { room: this.spec.target!.channelId, before, limit }, hrMs());
  }

  private emit(event: string, data: unknown, sentAtMs: number): void {
    const id = this.nextAck++;
    this.pending.set(id, sentAtMs);
    this.inflight++;
    this.ws!.sendText(`42${id}${JSON.stringify([event, data])}`);
  }

  private settle(id: number, ok: boolean): void {
    const sentAt = this.pending.get(id);
    if (sentAt === undefined) return;
    this.pending.delete(id);
    const seq = this.pendingSeq.get(id);
    if (seq !== undefined) {
      this.pendingSeq.delete(id);
      if (ok && seq > this.lastAckedSeq) this.lastAckedSeq = seq;
    }
    this.inflight--;
    this.counters.acks++;
    this.host.acked(this, sentAt, hrMs(), ok);
  }
}
