/**
 * The WebSocket edge on uWebSockets.js: upgrades `/gateway`, runs one Connection per socket,
 * and is this node's BusListener — published events are coalesced per topic per tick and handed
 * to uWS's topic publish, so fan-out runs in C++ with no per-recipient JavaScript.
 */
import type { Logger } from 'pino';
import { CloseCode } from '../../protocol/opcodes.ts';
import type { StreamRegistry } from '../actors/event-stream.ts';
import type { BusListener, TopicChange } from '../cluster/bus.ts';
import { Connection, type ConnectionDeps, type GatewaySocket } from './connection.ts';
import { TopicCoalescer } from './fanout.ts';
import { SessionStore } from './resume.ts';
import { SessionRegistry } from './session-registry.ts';
import { originAllowed } from '../http/origin.ts';
import { uws, type TemplatedApp, type WebSocket } from './uws.ts';

interface SocketData {
  conn: Connection | null;
}

export type GatewayDeps = Omit<ConnectionDeps, 'registry' | 'resume' | 'isDraining'> & {
  logger: Logger;
  /** This node's event streams; with it (and a window > 0) sessions can be resumed. */
  streams?: StreamRegistry;
  /** How long a session stays resumable after an abnormal close (0: never). */
  resumeWindowMs?: number;
  /** Detached sessions kept per user (default 16); the oldest ends first. */
  resumeMaxDetachedPerUser?: number;
  /** Origins (URL.origin form) allowed to open a socket; empty or absent = any (see http/origin.ts). */
  allowedOrigins?: ReadonlySet<string>;
};

/** How often every socket's send buffer is compared with limits.slowConsumerBytes. */
export const BACKPRESSURE_CHECK_MS = 250;

export class Gateway implements BusListener {
  readonly registry = new SessionRegistry();
  readonly sessions: SessionStore;
  private readonly connections = new Set<Connection>();
  private readonly coalescer: TopicCoalescer;
  private readonly sweeper: NodeJS.Timeout;
  private readonly backpressureSweeper: NodeJS.Timeout;
  private draining = false;
  private nextId = 1;
  /** Bytes published to topics since the last backpressure sweep. */
  private publishedSinceSweep = 0;
  /** Published bytes after which a sweep runs at once (see publish()). */
  private readonly sweepAfterBytes: number;

  constructor(private readonly app: TemplatedApp, private readonly deps: GatewayDeps) {
    this.coalescer = new TopicCoalescer((topic, frame) => this.publish(topic, frame));
    this.sweepAfterBytes = Math.floor((hardBackpressureLimit(this.slowConsumerBytes) - this.slowConsumerBytes) / 2);
    const interval = deps.limits.heartbeatIntervalMs;
    this.sweeper = setInterval(() => this.reapSilent(), Math.max(250, interval / 2));
    this.sweeper.unref();
    this.backpressureSweeper = setInterval(() => this.closeSlowConsumers(), BACKPRESSURE_CHECK_MS);
    this.backpressureSweeper.unref();
    const streams = deps.streams;
    this.sessions = new SessionStore({
      windowMs: streams ? deps.resumeWindowMs ?? 0 : 0,
      registry: this.registry,
      clock: deps.clock,
      lsn: () => streams?.lastLsn ?? 0,
      maxDetachedPerUser: deps.resumeMaxDetachedPerUser,
    });
  }

  mount(path = '/gateway'): void {
    const streams = this.deps.streams;
    const connDeps: ConnectionDeps = {
      ...this.deps,
      registry: this.registry,
      resume: streams ? { sessions: this.sessions, streams, flush: this.coalescer.flush } : undefined,
      isDraining: () => this.draining,
      afterPendingEvents: this.coalescer.afterPending,
    };
    // uWS skips (drops!) messages for a socket whose buffer exceeds maxBackpressure, so that limit
    // sits well above slowConsumerBytes, where this gateway closes the socket itself with
    // SLOW_CONSUMER; should a burst still reach it, closeOnBackpressureLimit turns the drop into a
    // close (resumable) instead of a silent gap.
    const slow = this.slowConsumerBytes;
    this.app.ws<SocketData>(path, {
      compression: uws.DISABLED,
      // Frames up to 4× the limit reach Connection, which closes with 1009; uWS drops larger ones outright.
      maxPayloadLength: this.deps.limits.maxFrameBytes * 4,
      idleTimeout: 0,
      maxBackpressure: hardBackpressureLimit(slow),
      closeOnBackpressureLimit: 1,
      upgrade: (res, req, context) => {
        // Issue 5: refuse cross-site browser origins before the socket opens.
        if (!originAllowed(this.deps.allowedOrigins, req.getHeader('origin'))) {
          res.cork(() => res.writeStatus('403 Forbidden').writeHeader('content-type', 'text/plain').end('origin not allowed'));
          return;
        }
        res.upgrade<SocketData>(
          { conn: null },
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open: (ws) => {
        const conn = new Connection(this.nextId++, new UwsSocket(ws), connDeps);
        ws.getUserData().conn = conn;
        this.connections.add(conn);
        conn.open();
      },
      message: (ws, message, isBinary) => {
        ws.getUserData().conn?.receive(new Uint8Array(message), isBinary);
      },
      close: (ws, code) => {
        const conn = ws.getUserData().conn;
        if (!conn) return;
        conn.closed(code);
        this.connections.delete(conn);
      },
    });
  }

  private get slowConsumerBytes(): number {
    return this.deps.limits.slowConsumerBytes ?? 1024 * 1024;
  }

  /**
   * A socket's send buffer grows by at most the bytes published since it was last checked, so
   * sweeping whenever half the gap between slowConsumerBytes and uWS's hard limit was published
   * closes every slow consumer with SLOW_CONSUMER before uWS would cut it off (1006) — however
   * fast the firehose — at one pass over the sockets per that many bytes, not per event.
   */
  private publish(topic: string, frame: Uint8Array): void {
    this.app.publish(topic, frame, true);
    this.publishedSinceSweep += frame.length;
    if (this.publishedSinceSweep >= this.sweepAfterBytes) this.closeSlowConsumers();
  }

  deliver(topic: string, event: Uint8Array): void {
    this.coalescer.add(topic, event);
  }

  /**
   * Events published before a subscription change must reach the subscribers of that moment:
   * pending coalesced events are flushed first, so losing a topic never drops an earlier event
   * and gaining one never delivers an event from before access was granted.
   */
  retopic(userId: string, change: TopicChange): void {
    this.coalescer.flush();
    this.registry.retopic(userId, change);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Graceful shutdown, step 1: new requests are refused with UNAVAILABLE (retryable) while the
   * ones already running finish; resolves when none is left or after `graceMs`.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + graceMs;
    const pending = () => {
      let n = 0;
      for (const c of this.connections) n += c.pendingRequests;
      return n;
    };
    while (pending() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const left = pending();
    if (left > 0) this.deps.logger.warn({ pending: left }, 'shutdown grace elapsed with requests still running');
  }

  /**
   * Issue 5, session revocation: closes every connection identified with authentication session
   * `sessionId` with `code` (SESSION_REVOKED is not resumable, so their gateway sessions end).
   * Returns how many were closed.
   */
  closeAuthSession(sessionId: string, code: number, reason: string): number {
    let n = 0;
    for (const conn of [...this.connections]) {
      if (conn.authSessionId === sessionId) {
        conn.close(code, reason);
        n++;
      }
    }
    return n;
  }

  /** Issue 5: the authentication sessions of the identified connections (for periodic re-verification). */
  authSessionIds(): Set<string> {
    const ids = new Set<string>();
    for (const conn of this.connections) if (conn.authSessionId !== null) ids.add(conn.authSessionId);
    return ids;
  }

  /** Publishes pending events now and closes every socket with `code`. */
  closeAll(code: number = CloseCode.SERVER_SHUTDOWN, reason = 'server shutting down'): void {
    clearInterval(this.sweeper);
    clearInterval(this.backpressureSweeper);
    this.coalescer.flush();
    for (const conn of [...this.connections]) conn.close(code, reason);
    this.connections.clear();
    this.sessions.close();
  }

  private closeSlowConsumers(): void {
    this.publishedSinceSweep = 0;
    for (const conn of this.connections) conn.checkBackpressure();
  }

  /** Closes connections that sent nothing (not even a heartbeat) for 1.5 heartbeat intervals. */
  private reapSilent(): void {
    const deadline = this.deps.clock.now() - this.deps.limits.heartbeatIntervalMs * 1.5;
    for (const conn of this.connections) {
      if (conn.lastSeen < deadline) conn.close(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
    }
  }
}

/** Where uWS itself closes a socket (maxBackpressure): well above slowConsumerBytes, see mount(). */
function hardBackpressureLimit(slowConsumerBytes: number): number {
  return slowConsumerBytes * 4 + 1024 * 1024;
}

/**
 * A uWS socket as a GatewaySocket. A class, not an object of closures: its methods live on the
 * prototype, so an idle connection costs one small object here (per-socket closures cost ~1 KB
 * each connection under tsx, whose keepNames gives every closure instance its own properties).
 * uWS throws on a closed socket; the close handler follows, so calls after that are no-ops.
 */
class UwsSocket implements GatewaySocket {
  private open = true;

  constructor(private readonly ws: WebSocket<SocketData>) {}

  send(frame: Uint8Array): void {
    if (!this.open) return;
    try {
      this.ws.send(frame, true);
    } catch {
      this.open = false;
    }
  }

  close(code: number, reason: string): void {
    if (!this.open) return;
    this.open = false;
    try {
      this.ws.end(code, reason);
    } catch {
      // already closed
    }
  }

  subscribe(topic: string): void {
    this.call('subscribe', topic);
  }

  unsubscribe(topic: string): void {
    this.call('unsubscribe', topic);
  }

  cork(fn: () => void): void {
    this.call('cork', fn);
  }

  bufferedAmount(): number {
    if (!this.open) return 0;
    try {
      return this.ws.getBufferedAmount();
    } catch {
      return 0;
    }
  }

  /** Calls a one-argument uWS method unless the socket is known closed; a throw marks it closed. */
  private call<M extends 'subscribe' | 'unsubscribe' | 'cork'>(method: M, arg: Parameters<WebSocket<SocketData>[M]>[0]): void {
    if (!this.open) return;
    try {
      (this.ws[method] as (a: typeof arg) => unknown).call(this.ws, arg);
    } catch {
      this.open = false;
    }
  }
}
