/**
 * One load-generator connection, independent of the system under test: it counts deliveries
 * (cheaply, from frame headers), runs its system's handshake, keeps it alive, sends chat messages
 * and requests, and — when it is a probe — reads the send timestamp embedded in every message it
 * receives. The per-system subclasses only say how bytes look on their wire.
 */
import type { SystemName } from '../systems/server-process.ts';
import { RawWebSocket, type FrameHandler } from './raw-ws.ts';

/** Where and as whom a connection connects; plain data, sent to worker threads. */
export interface ConnSpec {
  system: SystemName;
  host: string;
  port: number;
  /** Path with query string. */
  path: string;
  localAddress?: string;
  /** Guildhall access token (IDENTIFY) or Socket.IO handshake token. */
  token?: string;
  /** Socket.IO rooms to join at handshake. */
  rooms?: string[];
  /** Where this connection posts: Guildhall guild/channel ids; Socket.IO room = channelId. */
  target?: { guildId: string; channelId: string };
}

export type Role = 'count' | 'probe' | 'sender';
/**
 * What a probe does with received messages: nothing extra, track the newest seq, decode for
 * latency, or (`track`, reconnect scenario) follow everything a resume needs: the newest bench seq,
 * the session's stream positions and the number of chat messages received.
 */
export type ProbeMode = 'off' | 'pace' | 'latency' | 'track';

/** How a reconnected connection came back (reconnect scenario). */
export interface ResumeOutcome {
  /** The server continued the session (Guildhall RESUMED, Socket.IO recovered state). */
  recovered: boolean;
  /** Events the server replayed before declaring the session back. */
  replayed: number;
  /** Streams the server said must be resynced through history (Guildhall). */
  resyncs: number;
}

/** Counters shared by the connections of one role in one worker. */
export interface Counters {
  deliveries: number;
  frames: number;
  bytes: number;
  acks: number;
  errors: number;
  closed: number;
  lastError: string;
}

export const newCounters = (): Counters => ({ deliveries: 0, frames: 0, bytes: 0, acks: 0, errors: 0, closed: 0, lastError: '' });

/** Callbacks from a connection into its worker. */
export interface ConnHost {
  probeMode(): ProbeMode;
  /** A probe saw message `seq` (sent at `sentAtMs`, hrtime ms) at `receivedAtMs`. */
  observed(conn: Conn, seq: number, sentAtMs: number, receivedAtMs: number): void;
  /** A request of this connection completed: its send time and reply time (hrtime ms). */
  acked(conn: Conn, sentAtMs: number, ackedAtMs: number, ok: boolean): void;
  /** Deliveries counted on a `count` connection (for flow control). */
  delivered(n: number): void;
}

/** Milliseconds on the system-wide monotonic clock: comparable across threads and processes. */
export function hrMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/** Content of a bench chat message: `@T<sent ms>@I<seq>@` padded with 'x' to `size` characters. */
export function messageContent(sentAtMs: number, seq: number, size: number): string {
  const head = `@T${sentAtMs.toFixed(3)}@I${seq}@`;
  return head.length >= size ? head : head + 'x'.repeat(size - head.length);
}

/** Parses messageContent(); null for anything else. */
export function parseContent(content: unknown): { sentAtMs: number; seq: number } | null {
  if (typeof content !== 'string' || !content.startsWith('@T')) return null;
  const i = content.indexOf('@I', 2);
  const j = content.indexOf('@', i + 2);
  if (i < 0 || j < 0) return null;
  return { sentAtMs: Number(content.slice(2, i)), seq: Number(content.slice(i + 2, j)) };
}

const SEQ_MARK = Buffer.from('@I');

/** The seq of the last bench message in `payload` (a byte scan, no decoding), or -1. */
export function lastSeqIn(payload: Buffer): number {
  const i = payload.lastIndexOf(SEQ_MARK);
  if (i < 0) return -1;
  let v = 0;
  for (let p = i + 2; p < payload.length; p++) {
    const c = payload[p]!;
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

export abstract class Conn implements FrameHandler {
  ws: RawWebSocket | null = null;
  /** Newest seq a probe saw (pace/latency/track modes). */
  lastSeq = -1;
  /** Seq of the newest message of this connection the server acknowledged. */
  lastAckedSeq = -1;
  /** Chat messages received whole in `track` mode. */
  trackedMessages = 0;
  /** hrMs() when the handshake completed. */
  readyAt = 0;
  /**
   * Set before open() to continue the session of an earlier connection instead of starting one:
   * what that connection's resumeState() returned (reconnect scenario).
   */
  resumeFrom: unknown = null;
  /** Filled in when a connection opened with `resumeFrom` completes its handshake. */
  readonly resumeOutcome: ResumeOutcome = { recovered: false, replayed: 0, resyncs: 0 };
  inflight = 0;
  protected readyResolve: (() => void) | null = null;
  protected readyReject: ((e: Error) => void) | null = null;
  readonly ready: Promise<void>;
  isReady = false;

  constructor(readonly spec: ConnSpec, readonly role: Role, protected readonly counters: Counters, protected readonly host: ConnHost) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => {});
  }

  /** Opens the socket and completes the system's handshake. */
  async open(timeoutMs = 30_000): Promise<void> {
    const timer = setTimeout(() => this.fail(new Error('handshake timed out')), timeoutMs);
    try {
      await RawWebSocket.connect(
        { host: this.spec.host, port: this.spec.port, path: this.spec.path, localAddress: this.spec.localAddress, timeoutMs },
        this,
      );
      await this.ready;
    } catch (err) {
      this.ws?.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  attached(ws: RawWebSocket): void {
    this.ws = ws;
    this.onUpgraded();
  }

  /** Called right after the HTTP upgrade. */
  protected abstract onUpgraded(): void;
  abstract classify(buf: Buffer, start: number, len: number, isBinary: boolean): number;
  abstract full(payload: Buffer, isBinary: boolean): void;
  /** Posts one chat message to spec.target; the ack is reported through host.acked(). */
  abstract sendMessage(seq: number, sentAtMs: number, contentSize: number): void;
  /** Sends a history request; the reply is reported through host.acked(). */
  abstract requestHistory(before: string | null, limit: number): void;
  /** What a later connection needs to continue this one's session (null: the system has none). */
  resumeState(): unknown {
    return null;
  }

  /** Periodic keep-alive, called about once a second by the worker. */
  keepAlive(_nowMs: number): void {}

  counted(deliveries: number, bytes: number): void {
    const c = this.counters;
    c.frames++;
    c.bytes += bytes;
    if (deliveries > 0) {
      c.deliveries += deliveries;
      if (this.role === 'count') this.host.delivered(deliveries);
    }
  }

  closed(code: number, reason: string): void {
    this.counters.closed++;
    if (!this.isReady) this.fail(new Error(`closed during handshake (${code} ${reason})`));
    else if (code !== 1000 && code !== 1006) this.error(`closed ${code} ${reason}`);
  }

  close(): void {
    this.ws?.close();
  }

  /** Records content of a message a probe received whole (latency or pace mode). */
  protected observeContent(content: unknown, receivedAtMs: number): void {
    const parsed = parseContent(content);
    if (!parsed) return;
    if (parsed.seq > this.lastSeq) this.lastSeq = parsed.seq;
    this.host.observed(this, parsed.seq, parsed.sentAtMs, receivedAtMs);
  }

  /** A DISPATCH-like frame a probe received whole: count it, then track or decode it. */
  protected probeFrame(payload: Buffer, deliveries: number, decodeContents: () => unknown[]): void {
    this.counted(deliveries, payload.length);
    const mode = this.host.probeMode();
    if (mode === 'latency') {
      const at = hrMs();
      for (const content of decodeContents()) this.observeContent(content, at);
    } else if (mode === 'pace') {
      const seq = lastSeqIn(payload);
      if (seq > this.lastSeq) this.lastSeq = seq;
      this.host.observed(this, this.lastSeq, -1, -1);
    } else if (mode === 'track') {
      this.trackedMessages += this.track(payload, deliveries);
      const seq = lastSeqIn(payload);
      if (seq > this.lastSeq) this.lastSeq = seq;
      this.host.observed(this, this.lastSeq, -1, -1);
    }
  }

  /**
   * `track` mode: records what a resume needs from a DISPATCH-like frame carrying `deliveries`
   * events, and returns how many of them are chat messages.
   */
  protected track(_payload: Buffer, deliveries: number): number {
    return deliveries;
  }

  protected markReady(): void {
    if (this.isReady) return;
    this.isReady = true;
    this.readyAt = hrMs();
    this.readyResolve?.();
  }

  protected fail(err: Error): void {
    this.error(err.message);
    this.readyReject?.(err);
  }

  protected error(message: string): void {
    this.counters.errors++;
    this.counters.lastError = message;
  }
}
