/**
 * A minimal WebSocket client on a bare TCP socket, built so that receivers are never the bottleneck:
 * it walks frame headers in the received bytes and asks its handler to classify each message from
 * its first PEEK bytes; counted messages are skipped without copying or decoding, and only the
 * few the handler asks for (handshakes, acks, probe traffic) are assembled in full.
 *
 * Limits (fine for the servers under test): no fragmentation, no extensions, server frames must
 * be unmasked. Client frames use an all-zero masking key, which RFC 6455 permits and which avoids
 * XOR-ing every byte; the servers under test accept it.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

/** Bytes of a message's payload guaranteed to be available to classify(). */
export const PEEK = 24;

/** Shared by every socket of this thread: see RawWebSocket.connect. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export interface FrameHandler {
  /*
   * Every Buffer passed to classify() and full() is a view of a reused read buffer: it is only
   * valid during the call.
   */
  /**
   * Pure: looks at `buf[start .. start + min(PEEK, len))` of a message of `len` bytes and returns
   * how many deliveries it carries (≥ 0) to count and skip it, or -1 to receive it whole in full().
   */
  classify(buf: Buffer, start: number, len: number, isBinary: boolean): number;
  /** A whole message the handler asked for. `payload` is only valid during the call. */
  full(payload: Buffer, isBinary: boolean): void;
  /** Counted (skipped) messages: `deliveries` from classify(), `bytes` = payload length. */
  counted(deliveries: number, bytes: number): void;
  closed(code: number, reason: string): void;
  /** Called once with the socket right after the upgrade, before any frame is delivered. */
  attached(ws: RawWebSocket): void;
}

export interface RawConnectOptions {
  host: string;
  port: number;
  /** Request path including the query string. */
  path: string;
  localAddress?: string;
  timeoutMs?: number;
}

const enum Op {
  Text = 1,
  Binary = 2,
  Close = 8,
  Ping = 9,
  Pong = 10,
}

export class RawWebSocket {
  private leftover: Buffer | null = null;
  private skip = 0;
  private closedFlag = false;

  private constructor(readonly socket: net.Socket, private readonly handler: FrameHandler) {}

  /**
   * Connects, performs the HTTP upgrade and resolves once the socket speaks WebSocket. Reads go
   * through `onread` into one buffer shared by every socket of this thread (each read is parsed
   * before the next one happens), which avoids a Buffer allocation and a stream 'data' event per
   * read — the bulk of a receiver's cost when thousands of sockets each get a few frames.
   */
  static connect(opts: RawConnectOptions, handler: FrameHandler): Promise<RawWebSocket> {
    return new Promise((resolve, reject) => {
      let ws: RawWebSocket | null = null;
      let head: Buffer = Buffer.alloc(0);
      const socket = net.connect({
        host: opts.host,
        port: opts.port,
        localAddress: opts.localAddress,
        onread: {
          buffer: READ_BUFFER,
          callback: (n: number, buf: Uint8Array) => {
            const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
            if (ws) ws.onData(chunk);
            else onHead(chunk);
            return true;
          },
        },
      });
      socket.setNoDelay(true);
      const timer = setTimeout(() => fail(new Error('upgrade timed out')), opts.timeoutMs ?? 20_000);
      let failed = false;
      const fail = (err: Error) => {
        if (failed || ws) return;
        failed = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.on('error', (err) => fail(err));
      socket.on('close', () => {
        if (ws) ws.onClose(1006, 'socket closed');
        else fail(new Error('closed during upgrade'));
      });
      socket.once('connect', () => {
        const key = randomBytes(16).toString('base64');
        socket.write(
          `GET ${opts.path} HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      const onHead = (chunk: Buffer) => {
        if (failed) return;
        // The read buffer is reused: keep a copy of what is not consumed yet.
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 16_384) fail(new Error('upgrade response too large'));
          return;
        }
        const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
        if (!/^HTTP\/1\.1 101/.test(status)) return fail(new Error(`upgrade refused: ${status}`));
        clearTimeout(timer);
        ws = new RawWebSocket(socket, handler);
        handler.attached(ws);
        resolve(ws);
        const rest = head.subarray(end + 4);
        if (rest.length) ws.onData(rest);
      };
    });
  }

  get isOpen(): boolean {
    return !this.closedFlag;
  }

  sendBinary(payload: Uint8Array): boolean {
    return this.writeFrame(Op.Binary, payload);
  }

  sendText(payload: string): boolean {
    return this.writeFrame(Op.Text, Buffer.from(payload, 'utf8'));
  }

  /** Sends a close frame and ends the TCP stream. */
  close(code = 1000): void {
    if (this.closedFlag) return;
    const body = Buffer.alloc(2);
    body.writeUInt16BE(code);
    this.writeFrame(Op.Close, body);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private writeFrame(op: number, payload: Uint8Array): boolean {
    if (this.closedFlag) return false;
    const len = payload.length;
    const hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(hl + 4 + len);
    frame[0] = 0x80 | op;
    if (len < 126) frame[1] = 0x80 | len;
    else if (len < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(len, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(0, 2);
      frame.writeUInt32BE(len, 6);
    }
    frame.writeUInt32BE(0, hl); // masking key 0: payload bytes go out unchanged
    frame.set(payload, hl + 4);
    return this.socket.write(frame);
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    let p = 0;
    if (this.skip > 0) {
      if (chunk.length <= this.skip) {
        this.skip -= chunk.length;
        return;
      }
      p = this.skip;
      this.skip = 0;
    }
    if (this.leftover) {
      buf = Buffer.concat([this.leftover, p ? chunk.subarray(p) : chunk]);
      this.leftover = null;
      p = 0;
    }
    const n = buf.length;
    const h = this.handler;
    while (p < n) {
      if (n - p < 2) break;
      const b0 = buf[p]!;
      const b1 = buf[p + 1]!;
      let len = b1 & 0x7f;
      let start = p + 2;
      if (len === 126) {
        if (n - p < 4) break;
        len = (buf[p + 2]! << 8) | buf[p + 3]!;
        start = p + 4;
      } else if (len === 127) {
        if (n - p < 10) break;
        len = buf.readUInt32BE(p + 2) * 0x1_0000_0000 + buf.readUInt32BE(p + 6);
        start = p + 10;
      }
      if (b1 & 0x80 || (b0 & 0x80) === 0) return this.protocolError('masked or fragmented server frame');
      const op = b0 & 0x0f;
      if (op >= Op.Close) {
        if (n - start < len) break;
        this.control(op, buf.subarray(start, start + len));
        p = start + len;
        continue;
      }
      if (n - start < (len < PEEK ? len : PEEK)) break;
      const isBinary = op === Op.Binary;
      const k = h.classify(buf, start, len, isBinary);
      if (k < 0) {
        if (n - start < len) break;
        h.full(buf.subarray(start, start + len), isBinary);
        p = start + len;
        continue;
      }
      h.counted(k, len);
      if (start + len <= n) {
        p = start + len;
      } else {
        this.skip = start + len - n;
        p = n;
      }
    }
    if (p < n) this.leftover = Buffer.from(buf.subarray(p));
  }

  private control(op: number, body: Buffer): void {
    if (op === Op.Ping) this.writeFrame(Op.Pong, body);
    else if (op === Op.Close) {
      const code = body.length >= 2 ? body.readUInt16BE(0) : 1005;
      const reason = body.length > 2 ? body.subarray(2).toString('utf8') : '';
      this.onClose(code, reason);
      this.socket.end();
    }
  }

  private protocolError(reason: string): void {
    this.onClose(1002, reason);
    this.socket.destroy();
  }

  private onClose(code: number, reason: string): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.handler.closed(code, reason);
  }
}
