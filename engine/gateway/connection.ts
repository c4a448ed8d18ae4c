/**
 * One client connection's protocol state machine: HELLO → IDENTIFY → READY (or HELLO → RESUME →
 * replay → RESUMED), then requests and heartbeats. It talks to the socket only through
 * GatewaySocket, so it runs without uWS in tests. Every bad frame gets exactly one ERROR (ref 0
 * when the frame has no usable ref); a connection that keeps sending bad frames, fails IDENTIFY,
 * stalls, or stops reading is closed with a documented code.
 *
 * What a connection may see is its GatewaySession's topic set (engine/gateway/resume.ts); the
 * session outlives the connection after an abnormal close so that RESUME can pick it up.
 */
import type { Logger } from 'pino';
import {
  decode, encodeDispatch, encodeError, encodeHello, encodeOk, encodeReady, encodeResumed, FrameError, HEARTBEAT_ACK_FRAME, headerProblem,
} from '../../protocol/codec.ts';
import { CLOSE_BEHAVIOUR, CloseCode, ErrorCode, Op, PROTOCOL_VERSION, type CloseCodeValue, type MethodName } from '../../protocol/opcodes.ts';
import { IDENTIFY_PAYLOAD } from '../../protocol/payloads.ts';
import { parseResume } from '../../protocol/resume.ts';
import { validate } from '../../protocol/schema.ts';
import type { ReadyPayload, StreamPosition } from '../../protocol/types.ts';
import type { Clock } from '../../protocol/ids.ts';
import { StorageUnavailableError } from '../../storage/records.ts';
import type { StreamRegistry } from '../actors/event-stream.ts';
import type { TopicChange } from '../cluster/bus.ts';
import type { Caller, CommandEntry } from './command-table.ts';
import { toWireError } from './error-mapping.ts';
import { GatewaySession, planReplay, SessionStore, type ReplayPlan } from './resume.ts';
import type { SessionRegistry } from './session-registry.ts';
import { CommandBudget, type CommandBudgetSpec } from '../ratelimit/command-budget.ts';
import type { ReplySender } from './fanout.ts';
import type { SessionStatus } from '../people/presence-model.ts';

export interface GatewaySocket {
  send(frame: Uint8Array): void;
  close(code: number, reason: string): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Bytes queued in user space for this socket (uWS getBufferedAmount); absent in tests. */
  bufferedAmount?(): number;
  /** Runs `fn`, whose sends leave in one write (uWS cork); absent in tests. */
  cork?(fn: () => void): void;
}

export interface ConnectionLimits {
  heartbeatIntervalMs: number;
  maxFrameBytes: number;
  identifyTimeoutMs: number;
  /** Bad frames tolerated before closing with PROTOCOL_VIOLATION. */
  maxBadFrames: number;
  /** Buffered outgoing bytes beyond which the connection is closed with SLOW_CONSUMER. */
  slowConsumerBytes?: number;
  /** Issue 5: the connection's command budget (a token bucket); absent = unlimited. */
  commandBudget?: CommandBudgetSpec;
}

/** What resume needs from the gateway; without it, sessions end with their connection. */
export interface ResumeSupport {
  sessions: SessionStore;
  streams: StreamRegistry;
  /** Publishes the events the gateway has coalesced but not yet published. */
  flush(): void;
}

export interface ConnectionDeps {
  /** Resolves the caller; rejects with StorageUnavailableError when it cannot tell (close 1013), anything else is an authentication failure. */
  verifyToken(token: string): Promise<Caller>;
  ready(caller: Caller): Promise<{ payload: ReadyPayload; topics: string[] }>;
  commands: Readonly<Record<string, CommandEntry>>;
  registry: SessionRegistry;
  clock: Clock;
  logger: Logger;
  limits: ConnectionLimits;
  resume?: ResumeSupport;
  /** True while the server drains for shutdown: new requests are refused with UNAVAILABLE. */
  isDraining?(): boolean;
  /**
   * Calls `sender.sendReplies()` after every event published so far has left (the gateway's
   * coalescer); replies go through it so none overtakes an earlier event. Absent: replies are
   * sent at once.
   */
  afterPendingEvents?(sender: ReplySender): void;
  /** Presence hooks: once when the connection becomes ready (READY or RESUMED sent), once when a ready connection closes. */
  onSessionOpen?(caller: Caller, connectionId: number, status?: SessionStatus): void;
  onSessionClose?(caller: Caller, connectionId: number): void;
}

type State = 'hello' | 'identifying' | 'resuming' | 'ready' | 'closed';
const MAX_REF = 0xffffffff;
/** Events per replayed DISPATCH frame (the same bound the per-tick coalescer uses). */
const REPLAY_EVENTS_PER_FRAME = 256;
/** READY is rebuilt at most this many times when events outran the replay buffer meanwhile. */
const READY_ATTEMPTS = 3;

/** Whether a session survives its connection closing with `code`. */
export function isResumableClose(code: number): boolean {
  if (code === CloseCode.NORMAL) return false;
  return CLOSE_BEHAVIOUR[code as CloseCodeValue]?.resume ?? true;
}

export class Connection implements ReplySender {
  private state: State = 'hello';
  private caller: Caller | null = null;
  private session: GatewaySession | null = null;
  private readonly sessions: SessionStore;
  private badFrames = 0;
  private inflight = 0;
  private identifyTimer: NodeJS.Timeout | null = null;
  /** Replies waiting for the events published before them (see reply()). */
  private outbox: Uint8Array[] | null = null;
  private readonly budget: CommandBudget | null;
  lastSeen: number;

  constructor(readonly id: number, private readonly socket: GatewaySocket, private readonly deps: ConnectionDeps) {
    this.lastSeen = deps.clock.now();
    this.budget = deps.limits.commandBudget ? new CommandBudget(deps.limits.commandBudget) : null;
    this.sessions = deps.resume?.sessions ?? new SessionStore({ windowMs: 0, registry: deps.registry, clock: deps.clock, lsn: () => 0 });
  }

  get userId(): string | null {
    return this.caller?.userId ?? null;
  }

  /** The authentication session (login) this connection identified with. */
  get authSessionId(): string | null {
    return this.caller?.sessionId ?? null;
  }

  get isReady(): boolean {
    return this.state === 'ready';
  }

  /** Requests received and not yet answered. */
  get pendingRequests(): number {
    return this.inflight;
  }

  open(): void {
    const { heartbeatIntervalMs, maxFrameBytes, identifyTimeoutMs } = this.deps.limits;
    this.socket.send(encodeHello({ v: PROTOCOL_VERSION, heartbeatIntervalMs, maxFrameBytes }));
    this.identifyTimer = setTimeout(() => {
      if (this.state !== 'ready' && this.state !== 'closed') this.close(CloseCode.IDENTIFY_TIMEOUT, 'identify timeout');
    }, identifyTimeoutMs);
    this.identifyTimer.unref();
  }

  /**
   * Handles one received frame. `bytes` is only read synchronously (uWS neuters it afterwards):
   * decode copies everything it returns, and nothing here awaits before decoding.
   */
  receive(bytes: Uint8Array, isBinary: boolean): void {
    if (this.state === 'closed') return;
    this.lastSeen = this.deps.clock.now();
    if (bytes.byteLength > this.deps.limits.maxFrameBytes) return this.close(CloseCode.FRAME_TOO_LARGE, 'frame exceeds maxFrameBytes');
    if (!isBinary) return this.frameError(ErrorCode.MALFORMED_FRAME, 'frames must be binary msgpack');
    let frame: unknown;
    try {
      frame = decode(bytes);
    } catch (err) {
      if (err instanceof FrameError) {
        return this.frameError(err.reason === 'malformed' ? ErrorCode.MALFORMED_FRAME : ErrorCode.INVALID_FRAME, err.message);
      }
      throw err;
    }
    if (!Array.isArray(frame) || frame.length === 0 || !Number.isInteger(frame[0])) {
      return this.frameError(ErrorCode.INVALID_FRAME, 'a frame is an array whose first element is an opcode');
    }
    const problem = headerProblem(bytes, frame[0] === Op.REQUEST && frame.length > 1 ? 1 : undefined);
    if (problem) return this.frameError(ErrorCode.INVALID_FRAME, problem);
    switch (frame[0]) {
      case Op.HEARTBEAT:
        return this.socket.send(HEARTBEAT_ACK_FRAME);
      case Op.IDENTIFY:
        return void this.identify(frame[1]);
      case Op.RESUME:
        return void this.resume(frame[1]);
      case Op.REQUEST:
        return this.request(frame);
      default:
        return this.frameError(ErrorCode.UNKNOWN_OPCODE, `unknown client opcode ${frame[0]}`);
    }
  }

  /**
   * The socket is gone (either side closed it) with `code`. The session stays resumable when the
   * connection was ready and the code allows it (see isResumableClose); otherwise it ends.
   */
  closed(code: number = CloseCode.NORMAL): void {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    this.state = 'closed';
    this.stopIdentifyTimer();
    if (wasReady && this.caller) this.deps.onSessionClose?.(this.caller, this.id);
    const session = this.session;
    this.session = null;
    if (!session) return;
    if (session.owner === this) session.owner = null;
    if (wasReady && isResumableClose(code)) this.sessions.detach(session);
    else this.sessions.end(session);
  }

  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.closed(code);
    this.socket.close(code, reason);
  }

  /** Another connection resumed this one's session: give it up and close. */
  replaced(): void {
    this.session = null;
    this.close(CloseCode.SESSION_REPLACED, 'session resumed on another connection');
  }

  applyTopics(change: TopicChange): void {
    if (this.state === 'closed') return;
    this.session?.applyTopics(change);
  }

  /** Closes with SLOW_CONSUMER when more than the limit waits in the socket's send buffer. */
  checkBackpressure(): void {
    const limit = this.deps.limits.slowConsumerBytes;
    if (limit === undefined || this.state === 'closed' || !this.socket.bufferedAmount) return;
    const buffered = this.socket.bufferedAmount();
    if (buffered > limit) {
      this.deps.logger.info({ conn: this.id, userId: this.userId, buffered }, 'closing slow consumer');
      this.close(CloseCode.SLOW_CONSUMER, 'too much unread data');
    }
  }

  /** Clears and drops the timer (a cleared Timeout stays allocated while referenced). */
  private stopIdentifyTimer(): void {
    if (this.identifyTimer) clearTimeout(this.identifyTimer);
    this.identifyTimer = null;
  }

  private async identify(payload: unknown): Promise<void> {
    if (this.state !== 'hello') return this.frameError(ErrorCode.ALREADY_IDENTIFIED, 'already identified');
    const parsed = validate(IDENTIFY_PAYLOAD, payload);
    if (!parsed.ok) return this.frameError(ErrorCode.INVALID_PAYLOAD, `IDENTIFY: ${parsed.problem.field} ${parsed.problem.reason}`, { ...parsed.problem });
    this.state = 'identifying';
    const caller = await this.authenticate(parsed.value.token);
    if (!caller || this.state !== 'identifying') return;
    this.caller = caller;
    // Registered before READY is built, so subscription changes made meanwhile are not lost.
    const session = this.sessions.create(caller);
    this.session = session;
    session.owner = this;
    for (let attempt = 1; ; attempt++) {
      let ready: { payload: ReadyPayload; topics: string[] };
      try {
        ready = await this.deps.ready(caller);
      } catch (err) {
        const e = toWireError(err, this.deps.logger, { conn: this.id, op: 'identify' });
        const code = e.code === ErrorCode.AUTH_FAILED ? CloseCode.AUTHENTICATION_FAILED
          : e.code === ErrorCode.UNAVAILABLE ? CloseCode.TRY_AGAIN_LATER : CloseCode.UNKNOWN_ERROR;
        return this.close(code, e.message);
      }
      if (this.state !== 'identifying' || this.session !== session) return;
      if (this.finishIdentify(session, ready, attempt, parsed.value.status ?? undefined)) return;
    }
  }

  /**
   * The synchronous end of IDENTIFY: sends READY, then the events its streams got since their
   * snapshots were taken, then subscribes. Returns false when READY must be rebuilt because some
   * of those events are no longer buffered.
   */
  private finishIdentify(session: GatewaySession, ready: { payload: ReadyPayload; topics: string[] }, attempt: number, status?: SessionStatus): boolean {
    session.activate(ready.topics);
    let plan: ReplayPlan = { events: [], resync: [] };
    const rs = this.deps.resume;
    if (rs) {
      rs.flush();
      plan = planReplay(rs.streams, cursorsOf(ready.payload.streams), session, false, this.replayBudget());
      if (plan.resync.length > 0 && rs.streams.enabled) {
        if (attempt < READY_ATTEMPTS) {
          session.deactivate();
          return false;
        }
        this.close(CloseCode.TRY_AGAIN_LATER, 'events outran the replay buffer while READY was built');
        return true;
      }
    }
    const payload = this.sessions.windowMs > 0 ? { ...ready.payload, resumeId: session.resumeId } : ready.payload;
    this.socket.send(encodeReady(payload));
    this.sendEvents(plan.events);
    session.attach(this.socket);
    this.state = 'ready';
    this.stopIdentifyTimer();
    this.deps.onSessionOpen?.(session.caller, this.id, status);
    return true;
  }

  private async resume(payload: unknown): Promise<void> {
    if (this.state !== 'hello') return this.frameError(ErrorCode.ALREADY_IDENTIFIED, 'already identified');
    const parsed = parseResume(payload);
    if (!parsed.ok) return this.frameError(ErrorCode.INVALID_PAYLOAD, `RESUME: ${parsed.problem.field} ${parsed.problem.reason}`, { ...parsed.problem });
    const rs = this.deps.resume;
    if (!rs || rs.sessions.windowMs <= 0) return this.replyError(0, ErrorCode.INVALID_SESSION, 'this server does not keep sessions: send IDENTIFY');
    this.state = 'resuming';
    const caller = await this.authenticate(parsed.value.token);
    if (!caller || this.state !== 'resuming') return;
    const session = rs.sessions.get(parsed.value.resumeId);
    if (!session || session.userId !== caller.userId) {
      this.state = 'hello';
      return this.replyError(0, ErrorCode.INVALID_SESSION, 'session unknown or expired: send IDENTIFY');
    }
    // From here on everything is synchronous: no event can be published in between.
    const previous = session.owner;
    if (previous && previous !== this) previous.replaced();
    session.caller = caller;
    session.owner = this;
    this.caller = caller;
    this.session = session;
    rs.sessions.resumed(session);
    rs.flush();
    const plan = planReplay(rs.streams, cursorsOf(parsed.value.streams), session, true, this.replayBudget());
    this.sendEvents(plan.events);
    this.socket.send(encodeResumed({ replayed: plan.events.length, resync: plan.resync }));
    session.attach(this.socket);
    this.state = 'ready';
    this.stopIdentifyTimer();
    this.deps.onSessionOpen?.(caller, this.id);
  }

  /** Replayed bytes at most: half the slow-consumer limit, so a replay never trips it by itself. */
  private replayBudget(): number {
    const limit = this.deps.limits.slowConsumerBytes;
    return limit === undefined ? Infinity : Math.floor(limit / 2);
  }

  /** Verifies a token, closing the connection (and returning null) when that fails. */
  private async authenticate(token: string): Promise<Caller | null> {
    try {
      return await this.deps.verifyToken(token);
    } catch (err) {
      if (err instanceof StorageUnavailableError) this.close(CloseCode.TRY_AGAIN_LATER, 'authentication temporarily unavailable');
      else this.close(CloseCode.AUTHENTICATION_FAILED, 'authentication failed');
      return null;
    }
  }

  private sendEvents(events: readonly Uint8Array[]): void {
    for (let i = 0; i < events.length; i += REPLAY_EVENTS_PER_FRAME) {
      this.socket.send(encodeDispatch(events.slice(i, i + REPLAY_EVENTS_PER_FRAME)));
    }
  }

  private request(frame: unknown[]): void {
    const ref = frame[1];
    if (!Number.isInteger(ref) || (ref as number) < 1 || (ref as number) > MAX_REF || frame.length < 3 || frame.length > 4) {
      return this.frameError(ErrorCode.INVALID_FRAME, 'REQUEST is [5, ref (1..2^32-1), method, payload?]');
    }
    const r = ref as number;
    // Issue 5: over the command budget → RATE_LIMITED; still sending while refused → closed.
    const budget = this.budget?.take(this.deps.clock.now());
    if (budget && !budget.ok) {
      this.replyError(r, ErrorCode.RATE_LIMITED, 'too many commands, slow down', { retryAfterMs: budget.retryAfterMs });
      if (budget.close) this.close(CloseCode.RATE_LIMITED, 'kept sending commands while rate limited');
      return;
    }
    if (this.state !== 'ready' || !this.caller) return this.replyError(r, ErrorCode.NOT_IDENTIFIED, 'send IDENTIFY and wait for READY first');
    const method = frame[2];
    const entry = typeof method === 'string' && Object.hasOwn(this.deps.commands, method) ? this.deps.commands[method as MethodName] : undefined;
    if (!entry) return this.replyError(r, ErrorCode.UNKNOWN_METHOD, `unknown method ${typeof method === 'string' ? method.slice(0, 64) : typeof method}`);
    const parsed = validate(entry.schema, frame[3]);
    if (!parsed.ok) {
      return this.replyError(r, ErrorCode.INVALID_PAYLOAD, `${parsed.problem.field} ${parsed.problem.reason}`, { ...parsed.problem });
    }
    if (this.deps.isDraining?.()) return this.replyError(r, ErrorCode.UNAVAILABLE, 'server shutting down, retry on another connection');
    const caller = this.caller;
    this.inflight++;
    entry.run(caller, parsed.value).then(
      (result) => {
        this.inflight--;
        this.reply(encodeOk(r, result));
      },
      (err) => {
        this.inflight--;
        const e = toWireError(err, this.deps.logger, { conn: this.id, method, userId: caller.userId });
        this.reply(encodeError(r, e.code, e.message, e.details));
      },
    );
  }

  private replyError(ref: number, code: number, message: string, details: Record<string, unknown> | null = null): void {
    if (this.state !== 'closed') this.socket.send(encodeError(ref, code, message, details));
  }

  /**
   * The answer to a command that ran: after the events published before it (see
   * afterPendingEvents). Answers that wait for the same flush leave together, corked into one write.
   */
  private reply(frame: Uint8Array): void {
    if (this.outbox) return void this.outbox.push(frame);
    this.outbox = [frame];
    if (this.deps.afterPendingEvents) this.deps.afterPendingEvents(this);
    else this.sendReplies();
  }

  sendReplies(): void {
    const frames = this.outbox;
    this.outbox = null;
    if (!frames || this.state === 'closed') return;
    if (frames.length === 1 || !this.socket.cork) for (const f of frames) this.socket.send(f);
    else this.socket.cork(() => {
      for (const f of frames) this.socket.send(f);
    });
    this.checkBackpressure();
  }

  private frameError(code: number, message: string, details: Record<string, unknown> | null = null): void {
    this.replyError(0, code, message, details);
    if (++this.badFrames > this.deps.limits.maxBadFrames) this.close(CloseCode.PROTOCOL_VIOLATION, 'too many invalid frames');
  }
}

function cursorsOf(streams: Record<string, StreamPosition | [number, number]>): Map<string, StreamPosition> {
  const out = new Map<string, StreamPosition>();
  for (const [name, pos] of Object.entries(streams)) out.set(name, Array.isArray(pos) ? { epoch: pos[0], seq: pos[1] } : pos);
  return out;
}
