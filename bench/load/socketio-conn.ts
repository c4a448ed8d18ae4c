/**
 * A Socket.IO 4 client connection for the load generator, speaking Engine.IO v4 over a raw
 * WebSocket (`/socket.io/?EIO=4&transport=websocket`): open packet `0{…}`, namespace connect
 * `40{auth}` → `40{sid}`, pings `2` answered with `3`, events `42[…]`, acks `43<id>[…]`. Event
 * frames are counted from their first two bytes; probes JSON-parse them.
 */
import { Conn, hrMs, messageContent } from './conn.ts';

const C_4 = 0x34;
const C_2 = 0x32;
const C_3 = 0x33;

export class SocketioConn extends Conn {
  private nextAck = 1;
  private readonly pending = new Map<number, number>();

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
      this.ws!.sendText(`40${JSON.stringify({ token: this.spec.token, rooms: this.spec.rooms ?? [] })}`);
      return;
    }
    if (c0 !== C_4) return;
    const c1 = text.charCodeAt(1);
    if (c1 === 0x30) return this.markReady(); // 40{sid}
    if (c1 === 0x34) {
      this.fail(new Error(`connect refused: ${text.slice(2, 200)}`)); // 44{message}
      return;
    }
    if (c1 === C_2) {
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
    this.emit('send', { room, content: messageContent(sentAtMs, seq, contentSize) }, sentAtMs);
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
    this.inflight--;
    this.counters.acks++;
    this.host.acked(this, sentAt, hrMs(), ok);
  }
}
