/**
 * A WebSocket constructor for the SDK whose connections can be held back and cut: while the gate
 * is closed, new sockets wait before dialling, so a test can act while a client is disconnected;
 * `cut()` drops the current socket abruptly (TCP reset, close 1006) as a network failure would.
 */
import WebSocket from 'ws';
import type { WebSocketCtor, WebSocketLike } from '../../protocol/client/index.ts';

export interface Gate {
  Ctor: WebSocketCtor;
  /** New connections wait until open() (connections already open are unaffected). */
  close(): void;
  open(): void;
  /** Terminates the newest socket without a close frame. */
  cut(): void;
  /** The newest underlying `ws` socket. */
  readonly current: WebSocket | null;
  /** Sockets created so far. */
  readonly dials: number;
}

export function gatedWebSocket(): Gate {
  let waiting: Array<() => void> | null = null;
  let current: WebSocket | null = null;
  let dials = 0;

  class GatedSocket implements WebSocketLike {
    binaryType = 'arraybuffer';
    onopen: ((ev: unknown) => void) | null = null;
    onmessage: ((ev: { data: unknown }) => void) | null = null;
    onclose: ((ev: { code: number; reason: string }) => void) | null = null;
    onerror: ((ev: unknown) => void) | null = null;
    private real: WebSocket | null = null;
    private closedEarly = false;

    constructor(url: string) {
      const dial = () => {
        if (this.closedEarly) return;
        dials++;
        const ws = new WebSocket(url);
        ws.binaryType = 'arraybuffer';
        this.real = ws;
        current = ws;
        ws.onopen = (ev) => this.onopen?.(ev);
        ws.onmessage = (ev) => this.onmessage?.({ data: ev.data });
        ws.onclose = (ev) => this.onclose?.({ code: ev.code, reason: ev.reason });
        ws.onerror = (ev) => this.onerror?.(ev);
      };
      if (waiting) waiting.push(dial);
      else dial();
    }

    get readyState(): number {
      return this.real?.readyState ?? 0;
    }

    send(data: Uint8Array): void {
      this.real?.send(data);
    }

    close(code?: number, reason?: string): void {
      if (this.real) this.real.close(code, reason);
      else {
        this.closedEarly = true;
        setImmediate(() => this.onclose?.({ code: 1006, reason: 'closed before connecting' }));
      }
    }
  }

  return {
    Ctor: GatedSocket,
    close() {
      waiting ??= [];
    },
    open() {
      const w = waiting ?? [];
      waiting = null;
      for (const dial of w) dial();
    },
    cut() {
      current?.terminate();
    },
    get current() {
      return current;
    },
    get dials() {
      return dials;
    },
  };
}
