/** A bare WebSocket that records decoded server frames, for tests that must send what the SDK never would. */
import WebSocket from 'ws';
import { decode, encode } from '../../protocol/codec.ts';
import { Op } from '../../protocol/opcodes.ts';

export class RawSocket {
  private readonly frames: unknown[][] = [];
  private waiters: Array<() => void> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(decode(new Uint8Array(data)) as unknown[]);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const w of this.waiters.splice(0)) w();
    }));
  }

  /** Connects and waits for HELLO. */
  static async open(url: string): Promise<RawSocket> {
    const ws = new WebSocket(url);
    const raw = new RawSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const hello = await raw.next();
    if (hello[0] !== Op.HELLO) throw new Error('expected HELLO first');
    return raw;
  }

  /** Connects, identifies with `token` and waits for READY. */
  static async identified(url: string, token: string): Promise<RawSocket> {
    const raw = await RawSocket.open(url);
    raw.send([Op.IDENTIFY, { token }]);
    const ready = await raw.next((f) => f[0] === Op.READY);
    if (!ready) throw new Error('no READY');
    return raw;
  }

  send(frame: unknown): void {
    this.ws.send(encode(frame));
  }

  sendBytes(bytes: Uint8Array | string, binary = true): void {
    this.ws.send(bytes, { binary });
  }

  /** The next frame (matching `match`, skipping others), consuming it; rejects on close or timeout. */
  async next(match: (frame: unknown[]) => boolean = () => true, timeoutMs = 5000): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ws.close(1000);
  }

  /** Drops the TCP connection without a close frame, as a network failure would (the server sees 1006). */
  terminate(): void {
    this.ws.terminate();
  }
}
