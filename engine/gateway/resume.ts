/**
 * Gateway sessions and replay.
 *
 * A GatewaySession is what a client resumes: its user, the set of topics it holds (its visibility),
 * and the socket it is attached to, if any. It is created at IDENTIFY and outlives its connection:
 * after an abnormal close it stays registered (so subscription changes keep applying to it) for
 * RESUME_WINDOW_MS, then expires. A clean close (1000) or a non-resumable server close ends it.
 * Sessions live in this process's memory: they do not survive a restart (RESUME then fails with
 * INVALID_SESSION and the client identifies again); with a clustered bus they move to the
 * ephemeral store so any node can resume them.
 *
 * planReplay reads the stream buffers of this node (engine/actors/event-stream.ts) synchronously
 * and returns, for a session, the encoded events after the client's positions on topics the
 * session holds. The caller runs it in the same synchronous section in which it flushes pending
 * publishes, sends the replay and subscribes the socket: every event is then either older than
 * the plan's cut (already published while the socket was not subscribed, so it arrives once, in
 * the replay) or newer (published after the socket subscribed, so it arrives once, live).
 */
import { randomBytes } from 'node:crypto';
import type { ResyncEntry } from '../../protocol/resume.ts';
import type { Clock } from '../../protocol/ids.ts';
import type { StreamPosition } from '../../protocol/types.ts';
import type { EventStream, StreamRegistry } from '../actors/event-stream.ts';
import type { TopicChange } from '../cluster/bus.ts';
import type { Caller } from './command-table.ts';
import type { SessionRegistry, TopicHolder } from './session-registry.ts';

/** The part of a socket a session drives. */
export interface TopicSocket {
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

export class GatewaySession implements TopicHolder {
  readonly resumeId: string = randomBytes(18).toString('base64url');
  /** Topics this session may receive. */
  readonly topics = new Set<string>();
  /** Per topic: the node's event log position when the session acquired it. */
  readonly topicSince = new Map<string, number>();
  private socket: TopicSocket | null = null;
  /** Changes received before the session's first topic set was known (see activate). */
  private pending: TopicChange[] | null = [];
  /** The connection currently attached (or identifying/resuming with this session). */
  owner: { replaced(): void } | null = null;
  detachedAt: number | null = null;
  expiry: NodeJS.Timeout | null = null;
  ended = false;

  constructor(public caller: Caller, private readonly lsn: () => number) {}

  get userId(): string {
    return this.caller.userId;
  }

  get attached(): boolean {
    return this.socket !== null;
  }

  /**
   * Sets the session's topics from READY, then re-applies, in order, every change that arrived
   * while READY was being built: a change is never older than the snapshot it lands on, so access
   * lost during the build stays lost.
   */
  activate(topics: readonly string[]): void {
    const during = this.pending ?? [];
    this.pending = null;
    this.topics.clear();
    this.topicSince.clear();
    this.applyTopics({ subscribe: topics });
    for (const change of during) this.applyTopics(change);
  }

  /** Back to collecting changes, for a READY that is about to be rebuilt. */
  deactivate(): void {
    this.pending = [];
  }

  applyTopics(change: TopicChange): void {
    if (this.ended) return;
    if (this.pending) {
      this.pending.push(change);
      return;
    }
    for (const t of change.unsubscribe ?? []) {
      if (!this.topics.delete(t)) continue;
      this.topicSince.delete(t);
      this.socket?.unsubscribe(t);
    }
    for (const t of change.subscribe ?? []) {
      if (this.topics.has(t)) continue;
      this.topics.add(t);
      this.topicSince.set(t, this.lsn());
      this.socket?.subscribe(t);
    }
  }

  /** Subscribes `socket` to every topic; from now on changes reach it directly. */
  attach(socket: TopicSocket): void {
    this.socket = socket;
    this.detachedAt = null;
    for (const t of this.topics) socket.subscribe(t);
  }

  detach(now: number): void {
    this.socket = null;
    this.detachedAt = now;
  }
}

export interface SessionStoreOptions {
  /** How long a detached session stays resumable (0: sessions end with their connection). */
  windowMs: number;
  registry: SessionRegistry;
  clock: Clock;
  /** Node event log position, for GatewaySession.topicSince. */
  lsn: () => number;
  /** Detached sessions kept per user at most; the oldest expires first. */
  maxDetachedPerUser?: number;
}

/** This node's gateway sessions by resume id. */
export class SessionStore {
  private readonly byId = new Map<string, GatewaySession>();
  /** Detached sessions per user, oldest detach first (a Set keeps insertion order). */
  private readonly detachedOf = new Map<string, Set<GatewaySession>>();
  private readonly maxDetachedPerUser: number;

  constructor(private readonly opts: SessionStoreOptions) {
    this.maxDetachedPerUser = opts.maxDetachedPerUser ?? 16;
  }

  get windowMs(): number {
    return this.opts.windowMs;
  }

  /** A new session, registered for topic changes at once (its topics come with activate()). */
  create(caller: Caller): GatewaySession {
    const session = new GatewaySession(caller, this.opts.lsn);
    this.opts.registry.add(caller.userId, session);
    if (this.opts.windowMs > 0) this.byId.set(session.resumeId, session);
    return session;
  }

  get(resumeId: string): GatewaySession | undefined {
    const s = this.byId.get(resumeId);
    return s && !s.ended ? s : undefined;
  }

  /** The connection is gone but the session may be resumed within the window. */
  detach(session: GatewaySession): void {
    if (session.ended) return;
    if (this.opts.windowMs <= 0 || !this.byId.has(session.resumeId)) return this.end(session);
    session.detach(this.opts.clock.now());
    if (session.expiry) clearTimeout(session.expiry);
    session.expiry = setTimeout(() => this.end(session), this.opts.windowMs);
    session.expiry.unref();
    let detached = this.detachedOf.get(session.userId);
    if (!detached) this.detachedOf.set(session.userId, (detached = new Set()));
    detached.add(session);
    // Bounded per user: the oldest detached sessions go first.
    for (const oldest of detached) {
      if (detached.size <= this.maxDetachedPerUser) break;
      this.end(oldest);
    }
  }

  /** The session is reattached to a connection: stop its expiry. */
  resumed(session: GatewaySession): void {
    if (session.expiry) clearTimeout(session.expiry);
    session.expiry = null;
    this.forgetDetached(session);
  }

  end(session: GatewaySession): void {
    if (session.ended) return;
    session.ended = true;
    if (session.expiry) clearTimeout(session.expiry);
    session.expiry = null;
    this.byId.delete(session.resumeId);
    this.forgetDetached(session);
    this.opts.registry.remove(session.userId, session);
  }

  /** Sessions in memory (attached and detached). */
  get size(): number {
    return this.byId.size;
  }

  get detachedCount(): number {
    let n = 0;
    for (const set of this.detachedOf.values()) n += set.size;
    return n;
  }

  close(): void {
    for (const s of [...this.byId.values()]) this.end(s);
  }

  private forgetDetached(session: GatewaySession): void {
    const set = this.detachedOf.get(session.userId);
    if (!set?.delete(session)) return;
    if (set.size === 0) this.detachedOf.delete(session.userId);
  }
}

export interface ReplayPlan {
  /** Encoded events to send, per stream in order. */
  events: Uint8Array[];
  resync: ResyncEntry[];
}

/**
 * What `session` missed after `cursors` (stream → last position the client processed), from this
 * node's buffers. With `unlisted`, streams the client did not name but whose events reach the
 * session's topics are covered too (a guild joined while disconnected): their buffered events
 * since the session acquired each topic are replayed, or the stream is listed for resync when
 * some of those were dropped. A replay is capped at `maxBytes`: a stream whose events would not
 * fit is listed for resync instead (a huge replay would only get the client closed as a slow
 * consumer again), so what is replayed is always complete per stream.
 */
export function planReplay(
  streams: StreamRegistry,
  cursors: ReadonlyMap<string, StreamPosition>,
  session: Pick<GatewaySession, 'topics' | 'topicSince'>,
  unlisted: boolean,
  maxBytes = Infinity,
): ReplayPlan {
  const events: Uint8Array[] = [];
  const resync: ResyncEntry[] = [];
  const here = (s: EventStream) => s.position;
  let budget = maxBytes;
  /** Adds one stream's replay, or lists the stream for resync when it does not fit the budget. */
  const take = (s: EventStream, picked: Uint8Array[]) => {
    const size = picked.reduce((n, b) => n + b.length, 0);
    if (size > budget) return void resync.push({ stream: s.name, reason: 'gap', ...here(s) });
    budget -= size;
    for (const b of picked) events.push(b);
  };
  for (const [name, cursor] of cursors) {
    const s = streams.get(name);
    if (!s) {
      resync.push({ stream: name, reason: 'unknown', epoch: null, seq: null });
      continue;
    }
    if (s.epoch !== cursor.epoch) {
      resync.push({ stream: name, reason: 'epoch', ...here(s) });
      continue;
    }
    const r = s.since(cursor.seq);
    if (!r.ok) {
      resync.push({ stream: name, reason: r.reason, ...here(s) });
      continue;
    }
    take(s, r.events.filter((e) => session.topics.has(e.topic)).map((e) => e.bytes));
  }
  if (!unlisted) return { events, resync };

  const byOwner = new Map<EventStream, string[]>();
  for (const t of session.topics) {
    for (const s of streams.ownersOf(t)) {
      if (cursors.has(s.name)) continue;
      const list = byOwner.get(s);
      if (list) list.push(t);
      else byOwner.set(s, [t]);
    }
  }
  for (const [s, held] of byOwner) {
    const since = Math.min(...held.map((t) => session.topicSince.get(t) ?? 0));
    if (s.lostLsn > since) {
      resync.push({ stream: s.name, reason: 'gap', ...here(s) });
      continue;
    }
    take(s, s.buffered().filter((e) => session.topics.has(e.topic) && e.lsn > (session.topicSince.get(e.topic) ?? Infinity)).map((e) => e.bytes));
  }
  return { events, resync };
}
