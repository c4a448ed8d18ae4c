/**
 * The TypeScript client SDK: connects to `/gateway`, identifies, keeps heartbeats, correlates
 * requests with replies by ref, and delivers typed events. Works with any WHATWG WebSocket
 * (browsers, Deno, Node 22+) and falls back to the `ws` package on Node 20.
 *
 * It stays connected: when the socket drops for a reason the close-code table marks as
 * reconnectable, it reconnects with exponential backoff and full jitter, RESUMEs its session with
 * the last position it processed on every stream, and receives exactly the events it missed. The
 * app sees every event once, in order per stream: events at or before the last processed position
 * of their stream and epoch are dropped. Streams the server cannot replay (listed in RESUMED, or
 * every stream whose position moved when the session had to be identified afresh) are resynced
 * through history: missed messages of channels with a known last message are delivered as
 * MESSAGE_CREATE events marked `resynced`, and `onResync` reports each resync.
 */
import { decode, encode, readDispatch } from '../codec.ts';
import { CLOSE_BEHAVIOUR, ErrorCode, EventType, Method, Op, type CloseCodeValue, type MethodName } from '../opcodes.ts';
import type { ResumedPayload, ResyncReason } from '../resume.ts';
import type { DispatchEvent, Events, HelloPayload, Message, Methods, ReadyPayload, StreamPosition } from '../types.ts';
import { ConnectionClosedError, GuildhallError } from './errors.ts';

/** The subset of the WHATWG WebSocket the client uses. */
export interface WebSocketLike {
  binaryType: string;
  readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

export interface ReconnectOptions {
  /** First retry delay ceiling (default 250 ms); each attempt doubles it … */
  initialDelayMs?: number;
  /** … up to this ceiling (default 30 s). The actual delay is uniformly random below the ceiling. */
  maxDelayMs?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  maxAttempts?: number;
}

export interface ClientOptions {
  /** ws:// or wss:// URL of the gateway, e.g. ws://localhost:8080/gateway */
  url: string;
  /** Access token from /auth/login, or a function returning a current one (called for every (re)connection). */
  token: string | (() => string | Promise<string>);
  /** Client name reported in IDENTIFY. */
  client?: string;
  /**
   * The presence to come online with, sent in the first IDENTIFY only (e.g. `invisible`, so the
   * user never shows online). Later identifies after a lost session keep the status chosen since.
   */
  status?: 'online' | 'idle' | 'dnd' | 'invisible';
  requestTimeoutMs?: number;
  WebSocket?: WebSocketCtor;
  /** Reconnect automatically (default true); `false` makes any close final. */
  reconnect?: boolean | ReconnectOptions;
  /** Fetch missed messages through history when a stream needs a resync (default true). */
  resyncHistory?: boolean;
}

/** An event as delivered to listeners; `resynced` marks a message recovered through history. */
export type ClientEvent<T extends keyof Events = keyof Events> = DispatchEvent<T> & { resynced?: true };

export interface ResyncInfo {
  stream: string;
  reason: ResyncReason | 'session';
  /**
   * Per channel of the stream: the messages recovered through history, oldest first. For a channel
   * with a known last message these are exactly the missed ones (also delivered as MESSAGE_CREATE
   * with `resynced`); for a channel where this client had not seen a message yet it is the newest
   * page, for the app to merge by id (`complete: false`).
   */
  channels: Record<string, { messages: Message[]; complete: boolean }>;
  /** History requests that failed (e.g. access lost meanwhile), by channel. */
  errors: Record<string, unknown>;
}

export interface ReconnectInfo {
  code: number;
  reason: string;
  attempt: number;
  delayMs: number;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: ReturnType<typeof setTimeout>;
  frame: Uint8Array;
  sent: boolean;
}

type Listener = (ev: ClientEvent) => void;
type Phase = 'connecting' | 'handshake' | 'ready' | 'waiting' | 'closed';

/** Per channel the SDK knows: which stream carries it and how to ask for its history. */
interface ChannelInfo {
  stream: string;
  history: (before: string | null, limit: number) => [string, Record<string, unknown>];
}

const HISTORY_PAGE = 100;
/** Pages fetched per channel at most during a resync (beyond, the resync is reported incomplete). */
const RESYNC_MAX_PAGES = 20;

async function defaultWebSocket(): Promise<WebSocketCtor> {
  const g = (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
  if (g) return g;
  const mod = (await import('ws')) as unknown as { default: WebSocketCtor };
  return mod.default;
}

const idLess = (a: string, b: string) => a.length < b.length || (a.length === b.length && a < b);

export class GuildhallClient {
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly closeListeners = new Set<(code: number, reason: string) => void>();
  private readonly disconnectListeners = new Set<(code: number, reason: string) => void>();
  private readonly reconnectListeners = new Set<(info: ReconnectInfo) => void>();
  private readonly resumedListeners = new Set<(payload: ResumedPayload) => void>();
  private readonly readyListeners = new Set<(ready: ReadyPayload) => void>();
  private readonly resyncListeners = new Set<(info: ResyncInfo) => void>();
  private readonly frameErrorListeners = new Set<(err: GuildhallError) => void>();
  /** Last processed position per stream. */
  private readonly positions = new Map<string, StreamPosition>();
  private readonly channels = new Map<string, ChannelInfo>();
  private readonly lastMessageId = new Map<string, string>();
  /** Streams being resynced: their live events wait here until the history is in. */
  private readonly holding = new Map<string, ClientEvent[]>();
  private ws: WebSocketLike | null = null;
  private phase: Phase = 'connecting';
  private nextRef = 1;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private lastReceived = 0;
  private closedWith: ConnectionClosedError | null = null;
  private resumeId: string | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private readyWaiters: Array<{ resolve(): void; reject(e: unknown): void }> = [];
  private firstConnect: { resolve(): void; reject(e: unknown): void } | null = null;
  private userClosed = false;
  hello: HelloPayload | null = null;
  ready: ReadyPayload | null = null;

  private constructor(private readonly opts: ClientOptions, private readonly Ctor: WebSocketCtor) {}

  /** Opens the socket, identifies, and resolves once READY arrived; rejects if the server closes first. */
  static async connect(opts: ClientOptions): Promise<GuildhallClient> {
    const Ctor = opts.WebSocket ?? (await defaultWebSocket());
    const client = new GuildhallClient(opts, Ctor);
    await new Promise<void>((resolve, reject) => {
      client.firstConnect = { resolve, reject };
      void client.open();
    });
    return client;
  }

  /** Sends a command and resolves with its result, or rejects with GuildhallError / ConnectionClosedError. */
  request<M extends MethodName>(method: M, payload: Methods[M]['payload']): Promise<Methods[M]['result']>;
  request(method: string, payload?: unknown): Promise<unknown>;
  request(method: string, payload?: unknown): Promise<unknown> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const ref = this.nextRef++;
    if (this.nextRef > 0xffffffff) this.nextRef = 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new Error(`request ${method} timed out`));
      }, this.opts.requestTimeoutMs ?? 15_000);
      const p: Pending = { resolve, reject, timer, frame: encode([Op.REQUEST, ref, method, payload ?? {}]), sent: false };
      this.pending.set(ref, p);
      // While reconnecting the request waits for the session to be back (it was never sent, so it
      // is safe to send later); requests already sent when the socket dropped reject instead.
      if (this.phase === 'ready') this.transmit(p);
    });
  }

  /** Subscribes to one event type; returns the unsubscribe function. `'*'` receives every event. */
  on<T extends keyof Events>(type: T, fn: (data: Events[T], event: ClientEvent<T>) => void): () => void;
  on(type: '*', fn: (data: unknown, event: ClientEvent) => void): () => void;
  on(type: string, fn: (data: any, event: any) => void): () => void {
    const l: Listener = (ev) => fn(ev.data, ev);
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(l);
    return () => set.delete(l);
  }

  /** Resolves with the next event of `type` that satisfies `match`. */
  waitFor<T extends keyof Events>(type: T, match: (data: Events[T]) => boolean = () => true, timeoutMs = 5000): Promise<Events[T]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out waiting for ${type}`));
      }, timeoutMs);
      const off = this.on(type, (data) => {
        if (!match(data)) return;
        clearTimeout(timer);
        off();
        resolve(data);
      });
    });
  }

  /** The client is closed for good (by close(), or by a close code that does not allow reconnecting). */
  onClose(fn: (code: number, reason: string) => void): () => void {
    return add(this.closeListeners, fn);
  }

  /** A socket closed; a reconnection may follow (see onReconnecting). */
  onDisconnect(fn: (code: number, reason: string) => void): () => void {
    return add(this.disconnectListeners, fn);
  }

  /** A reconnection attempt is scheduled. */
  onReconnecting(fn: (info: ReconnectInfo) => void): () => void {
    return add(this.reconnectListeners, fn);
  }

  /** The session was resumed; the missed events were delivered just before. */
  onResumed(fn: (payload: ResumedPayload) => void): () => void {
    return add(this.resumedListeners, fn);
  }

  /** A READY arrived (the first one, or a fresh one after the session could not be resumed). */
  onReady(fn: (ready: ReadyPayload) => void): () => void {
    return add(this.readyListeners, fn);
  }

  /** A stream was resynced (its missed events could not be replayed). */
  onResync(fn: (info: ResyncInfo) => void): () => void {
    return add(this.resyncListeners, fn);
  }

  /** Errors the server sent for frames without a ref (ref 0). */
  onFrameError(fn: (err: GuildhallError) => void): () => void {
    return add(this.frameErrorListeners, fn);
  }

  /** Sends raw bytes; for tests and tools that exercise the server's handling of bad input. */
  sendRaw(bytes: Uint8Array): void {
    this.ws?.send(bytes);
  }

  /** The underlying WebSocket object, for tests (e.g. to stall reading). */
  get rawSocket(): unknown {
    return this.ws;
  }

  get isOpen(): boolean {
    return this.closedWith === null;
  }

  /** True while a session is established (not reconnecting). */
  get isConnected(): boolean {
    return this.phase === 'ready';
  }

  /** The last processed position of every stream. */
  streamPositions(): Record<string, StreamPosition> {
    return Object.fromEntries([...this.positions].map(([k, v]) => [k, { ...v }]));
  }

  /** Resolves when the session is established (at once if it is); rejects if the client closes for good. */
  whenConnected(): Promise<void> {
    if (this.phase === 'ready') return Promise.resolve();
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** Closes cleanly (ending the session) and resolves when the socket is closed. */
  close(): Promise<void> {
    if (this.closedWith) return Promise.resolve();
    this.userClosed = true;
    return new Promise((resolve) => {
      this.onClose(() => resolve());
      if (this.ws && this.phase !== 'waiting') this.ws.close(1000, 'bye');
      else this.finish(1000, 'bye');
    });
  }

  // ---- connection lifecycle ----

  private async open(): Promise<void> {
    this.phase = 'connecting';
    let token: string;
    try {
      token = await this.token();
    } catch (err) {
      return this.socketClosed(4000, `token provider failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (this.closedWith) return;
    let ws: WebSocketLike;
    try {
      ws = new this.Ctor(this.opts.url);
    } catch (err) {
      return this.socketClosed(1006, err instanceof Error ? err.message : String(err));
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.socketClosed(ev.code, ev.reason);
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastReceived = Date.now();
      let frame: unknown[];
      try {
        frame = decode(toBytes(ev.data)) as unknown[];
      } catch {
        return; // a server never sends this; nothing sensible to do with it
      }
      try {
        this.handleFrame(frame, token);
      } catch {
        // a malformed frame from the server (or a throwing listener) must not kill the socket handler
      }
    };
  }

  private async token(): Promise<string> {
    const t = this.opts.token;
    return typeof t === 'function' ? await t() : t;
  }

  private handleFrame(frame: unknown[], token: string): void {
    switch (frame[0]) {
      case Op.HELLO: {
        this.hello = frame[1] as HelloPayload;
        this.phase = 'handshake';
        this.startHeartbeat(this.hello.heartbeatIntervalMs);
        if (this.resumeId) {
          const streams: Record<string, [number, number]> = {};
          for (const [name, p] of this.positions) streams[name] = [p.epoch, p.seq];
          this.sendFrame([Op.RESUME, { resumeId: this.resumeId, token, streams }]);
        } else {
          this.identify(token);
        }
        return;
      }
      case Op.READY:
        return this.onReadyFrame(frame[1] as ReadyPayload);
      case Op.RESUMED:
        return this.onResumedFrame(frame[1] as ResumedPayload);
      case Op.DISPATCH:
        for (const ev of readDispatch(frame)) this.dispatch(ev);
        return;
      case Op.OK: {
        const p = this.takePending(frame[1] as number);
        p?.resolve(frame[2]);
        return;
      }
      case Op.ERROR: {
        const err = new GuildhallError(frame[2] as number, frame[3] as string, frame[4] ?? null);
        const ref = frame[1] as number;
        if (ref === 0 && err.code === ErrorCode.INVALID_SESSION && this.phase === 'handshake') {
          // The session is gone (expired, server restarted): identify afresh on the same socket.
          this.resumeId = null;
          this.identify(token);
          return;
        }
        if (ref === 0) for (const fn of this.frameErrorListeners) fn(err);
        else this.takePending(ref)?.reject(err);
        return;
      }
    }
  }

  private identify(token: string): void {
    const first = this.ready === null && this.opts.status !== undefined;
    this.sendFrame([Op.IDENTIFY, { token, client: this.opts.client ?? 'guildhall-sdk', ...(first ? { status: this.opts.status } : {}) }]);
  }

  private onReadyFrame(ready: ReadyPayload): void {
    const first = this.ready === null;
    this.ready = ready;
    this.resumeId = (ready as ReadyPayload & { resumeId?: string }).resumeId ?? null;
    for (const g of ready.guilds) this.learnGuild(g.id, g.channels.map((c) => c.id));
    for (const d of ready.dms) {
      this.learnDm(d.id);
      if (d.lastMessageId && !this.lastMessageId.has(d.id)) this.lastMessageId.set(d.id, d.lastMessageId);
    }
    // After a lost session: every stream whose position is not exactly where we left it missed
    // events we cannot get back by replay, so it is resynced through history.
    const stale: Array<{ stream: string; reason: ResyncReason | 'session' }> = [];
    if (!first) {
      for (const [name, mine] of this.positions) {
        const theirs = ready.streams[name];
        if (!theirs) stale.push({ stream: name, reason: 'session' });
        else if (theirs.epoch !== mine.epoch) stale.push({ stream: name, reason: 'epoch' });
        else if (theirs.seq !== mine.seq) stale.push({ stream: name, reason: 'gap' });
      }
    }
    for (const [name, pos] of Object.entries(ready.streams)) this.positions.set(name, { ...pos });
    this.established();
    for (const fn of this.readyListeners) fn(ready);
    for (const s of stale) void this.resync(s.stream, s.reason);
  }

  private onResumedFrame(payload: ResumedPayload): void {
    for (const r of payload.resync) {
      if (r.epoch !== null && r.seq !== null) this.positions.set(r.stream, { epoch: r.epoch, seq: r.seq });
      else this.positions.delete(r.stream);
    }
    this.established();
    for (const fn of this.resumedListeners) fn(payload);
    for (const r of payload.resync) void this.resync(r.stream, r.reason);
  }

  /** The session is up: flush waiting requests and wake whoever waits. */
  private established(): void {
    this.phase = 'ready';
    this.attempt = 0;
    for (const p of this.pending.values()) if (!p.sent) this.transmit(p);
    if (this.firstConnect) {
      this.firstConnect.resolve();
      this.firstConnect = null;
    }
    for (const w of this.readyWaiters.splice(0)) w.resolve();
  }

  private socketClosed(code: number, reason: string): void {
    if (this.closedWith) return;
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
    }
    // Requests already sent have an unknown outcome: they fail; unsent ones wait for the next session.
    for (const [ref, p] of this.pending) {
      if (!p.sent) continue;
      clearTimeout(p.timer);
      this.pending.delete(ref);
      p.reject(new ConnectionClosedError(code, reason));
    }
    for (const fn of this.disconnectListeners) fn(code, reason);
    const behaviour = CLOSE_BEHAVIOUR[code as CloseCodeValue];
    const reconnect = this.opts.reconnect ?? true;
    if (this.userClosed || this.firstConnect || reconnect === false || (behaviour && !behaviour.reconnect)) {
      return this.finish(code, reason);
    }
    if (behaviour && !behaviour.resume) this.resumeId = null;
    const r = typeof reconnect === 'object' ? reconnect : {};
    this.attempt++;
    if (r.maxAttempts !== undefined && this.attempt > r.maxAttempts) return this.finish(code, reason);
    const ceiling = Math.min(r.maxDelayMs ?? 30_000, (r.initialDelayMs ?? 250) * 2 ** (this.attempt - 1));
    const delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.phase = 'waiting';
    for (const fn of this.reconnectListeners) fn({ code, reason, attempt: this.attempt, delayMs });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.open();
    }, delayMs);
  }

  private finish(code: number, reason: string): void {
    if (this.closedWith) return;
    this.phase = 'closed';
    this.closedWith = new ConnectionClosedError(code, reason);
    this.stopHeartbeat();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(this.closedWith);
    }
    this.pending.clear();
    if (this.firstConnect) {
      this.firstConnect.reject(this.closedWith);
      this.firstConnect = null;
    }
    for (const w of this.readyWaiters.splice(0)) w.reject(this.closedWith);
    for (const fn of this.closeListeners) fn(code, reason);
  }

  private sendFrame(frame: unknown[]): void {
    this.ws?.send(encode(frame));
  }

  private transmit(p: Pending): void {
    if (!this.ws) return;
    p.sent = true;
    this.ws.send(p.frame);
  }

  /** Heartbeats at 3/4 of the interval; a server silent for 2 intervals is presumed gone. */
  private startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat();
    this.lastReceived = Date.now();
    this.heartbeat = setInterval(() => {
      if (!this.ws) return;
      if (Date.now() - this.lastReceived > intervalMs * 2) {
        const ws = this.ws;
        this.socketClosed(4003, 'no heartbeat ack from the server');
        try {
          ws.close(4003, 'heartbeat timeout');
        } catch {
          // already closing
        }
        return;
      }
      this.sendFrame([Op.HEARTBEAT]);
    }, Math.max(100, Math.floor(intervalMs * 0.75)));
    (this.heartbeat as { unref?: () => void }).unref?.();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private takePending(ref: number): Pending | undefined {
    const p = this.pending.get(ref);
    if (p) {
      clearTimeout(p.timer);
      this.pending.delete(ref);
    }
    return p;
  }

  // ---- events ----

  /** Drops what was already processed, holds what waits for a resync, emits the rest. */
  private dispatch(ev: ClientEvent): void {
    // seq 0 marks an ephemeral event (typing): outside the stream order, never deduplicated.
    if (ev.seq === 0) return this.emit(ev);
    const pos = this.positions.get(ev.stream);
    if (pos && (ev.epoch < pos.epoch || (ev.epoch === pos.epoch && ev.seq <= pos.seq))) return;
    this.positions.set(ev.stream, { epoch: ev.epoch, seq: ev.seq });
    const held = this.holding.get(ev.stream);
    if (held) held.push(ev);
    else this.emit(ev);
  }

  private emit(ev: ClientEvent): void {
    this.learn(ev);
    for (const l of this.listeners.get(ev.type) ?? []) call(l, ev);
    for (const l of this.listeners.get('*') ?? []) call(l, ev);
  }

  /** Keeps the channel directory and last message ids the resync needs. */
  private learn(ev: ClientEvent): void {
    const data = ev.data as unknown as Record<string, unknown>;
    switch (ev.type as string) {
      case EventType.MESSAGE_CREATE: {
        const m = data as unknown as Message;
        const last = this.lastMessageId.get(m.channelId);
        if (!last || idLess(last, m.id)) this.lastMessageId.set(m.channelId, m.id);
        return;
      }
      case EventType.GUILD_CREATE: {
        const channels = (data.channels as Array<{ id: string }> | undefined) ?? [];
        this.learnGuild(data.id as string, channels.map((c) => c.id));
        return;
      }
      case EventType.CHANNEL_CREATE:
        this.learnGuild(data.guildId as string, [data.id as string]);
        return;
      case EventType.DM_CREATE:
        this.learnDm(data.id as string);
        return;
    }
  }

  private learnGuild(guildId: string, channelIds: string[]): void {
    for (const channelId of channelIds) {
      this.channels.set(channelId, {
        stream: `g:${guildId}`,
        history: (before, limit) => [Method.MESSAGE_HISTORY, { guildId, channelId, before, limit }],
      });
    }
  }

  private learnDm(dmId: string): void {
    this.channels.set(dmId, { stream: `d:${dmId}`, history: (before, limit) => [Method.DM_HISTORY, { dmId, before, limit }] });
  }

  /**
   * Recovers a stream whose events could not be replayed: its live events are held, each of its
   * channels' history newer than the last message seen is fetched and delivered oldest first as
   * MESSAGE_CREATE (`resynced`), then the held events follow (minus messages already delivered).
   */
  private async resync(stream: string, reason: ResyncReason | 'session'): Promise<void> {
    const info: ResyncInfo = { stream, reason, channels: {}, errors: {} };
    const fetchHistory = this.opts.resyncHistory ?? true;
    const targets = [...this.channels].filter(([, c]) => c.stream === stream);
    if (!fetchHistory || targets.length === 0) {
      for (const fn of this.resyncListeners) fn(info);
      return;
    }
    if (this.holding.has(stream)) return; // already resyncing; it will fetch everything up to now
    this.holding.set(stream, []);
    const delivered = new Map<string, string>();
    try {
      for (const [channelId, c] of targets) {
        try {
          const since = this.lastMessageId.get(channelId) ?? null;
          const { messages, complete } = await this.fetchSince(c, since);
          info.channels[channelId] = { messages, complete };
          if (since === null) continue;
          for (const m of messages) {
            this.emit({ type: EventType.MESSAGE_CREATE, stream, epoch: this.positions.get(stream)?.epoch ?? 0, seq: 0, data: m, resynced: true } as ClientEvent);
            delivered.set(channelId, m.id);
          }
        } catch (err) {
          info.errors[channelId] = err;
        }
      }
    } finally {
      const held = this.holding.get(stream) ?? [];
      this.holding.delete(stream);
      for (const ev of held) {
        if ((ev.type as string) === EventType.MESSAGE_CREATE) {
          const m = ev.data as unknown as Message;
          const upTo = delivered.get(m.channelId);
          if (upTo && !idLess(upTo, m.id)) continue;
        }
        this.emit(ev);
      }
    }
    for (const fn of this.resyncListeners) fn(info);
  }

  /** Messages newer than `since`, oldest first (the newest page when `since` is null). */
  private async fetchSince(c: ChannelInfo, since: string | null): Promise<{ messages: Message[]; complete: boolean }> {
    const out: Message[] = [];
    const ids = new Set<string>();
    let before: string | null = null;
    for (let page = 0; page < RESYNC_MAX_PAGES; page++) {
      const [method, payload] = c.history(before, since === null ? 50 : HISTORY_PAGE);
      const rows = (await this.request(method, payload)) as Message[];
      for (const m of rows) {
        if (since !== null && !idLess(since, m.id)) return { messages: out.reverse(), complete: true };
        if (ids.has(m.id)) continue; // never deliver a message twice, whatever the pages say
        ids.add(m.id);
        out.push(m);
      }
      if (since === null) return { messages: out.reverse(), complete: false };
      if (rows.length < HISTORY_PAGE) return { messages: out.reverse(), complete: true };
      before = rows[rows.length - 1]!.id;
    }
    return { messages: out.reverse(), complete: false };
  }
}

/** Runs a listener; its exception is reported (like EventTarget does) without stopping the others. */
function call(l: Listener, ev: ClientEvent): void {
  try {
    l(ev);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

function add<T>(set: Set<T>, fn: T): () => void {
  set.add(fn);
  return () => set.delete(fn);
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data instanceof Uint8Array) return data;
  throw new TypeError('expected a binary frame');
}
