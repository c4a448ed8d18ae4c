/**
 * One ordered event stream owned by an actor: every event gets the stream's epoch and the next
 * sequence number, is encoded once, and is published to a topic. A new epoch starts whenever the
 * owning actor is (re)hydrated, so clients can tell a restarted sequence from a continued one.
 *
 * Replay buffer: when the bus carries a StreamRegistry, each stream also keeps its most recent
 * events — the encoded bytes with their seq, topic, time and node-wide log position — bounded by
 * count, bytes and age (REPLAY_BUFFER_EVENTS / _BYTES / _AGE_MS). It lives in the actor's memory
 * on the node that owns the actor: it dies with the actor (eviction, restart), and a client that
 * needs events from a dead buffer is told to resync. The gateway reads buffers synchronously
 * through the registry to replay what a resuming session missed (see engine/gateway/resume.ts).
 */
import { encodeEvent } from '../../protocol/codec.ts';
import type { StreamPosition } from '../../protocol/types.ts';
import type { Clock } from '../../protocol/ids.ts';
import type { Bus } from '../cluster/bus.ts';

let lastEpoch = 0;
/** Epochs are epoch-milliseconds, strictly increasing within a process. */
export function nextEpoch(clock: Clock): number {
  lastEpoch = Math.max(clock.now(), lastEpoch + 1);
  return lastEpoch;
}

export interface ReplayBufferOptions {
  /** Events kept per stream at most (0 disables the buffer). */
  maxEvents: number;
  /** Encoded bytes kept per stream at most. */
  maxBytes: number;
  /** Events older than this are dropped. */
  maxAgeMs: number;
}

/** One buffered event. `lsn` orders events across all streams of this node. */
export interface BufferedEvent {
  readonly seq: number;
  readonly topic: string;
  readonly at: number;
  readonly lsn: number;
  readonly bytes: Uint8Array;
}

/** What a stream's buffer can say about the events after a position. */
export type SinceResult =
  /** Every event with seq > afterSeq, oldest first (possibly none). */
  | { ok: true; events: readonly BufferedEvent[] }
  /** Some events after afterSeq are gone ('gap') or afterSeq is beyond the head ('ahead'). */
  | { ok: false; reason: 'gap' | 'ahead' };

/**
 * The node's directory of live event streams, by name. Streams register themselves; entries are
 * weak, so an evicted actor's stream (and its buffer) is collected with the actor. Until then its
 * events stay readable: they are real events of that epoch.
 */
export class StreamRegistry {
  private readonly streams = new Map<string, WeakRef<EventStream>>();
  /**
   * topic → names of the streams whose events go to it. Most topics have one (a channel topic gets
   * its guild's stream); a user topic also gets events of the guilds and DMs that address the user.
   */
  private readonly topicOwners = new Map<string, Set<string>>();
  private readonly finalizer = new FinalizationRegistry<{ name: string; ref: WeakRef<EventStream> }>(({ name, ref }) => {
    if (this.streams.get(name) === ref) this.streams.delete(name);
  });
  private lsn = 0;
  private readonly sweeper: NodeJS.Timeout | null;

  constructor(readonly options: ReplayBufferOptions, readonly clock: Clock, sweepEveryMs = Math.min(30_000, Math.max(1000, options.maxAgeMs / 4))) {
    this.sweeper = options.maxEvents > 0 ? setInterval(() => this.sweep(), sweepEveryMs) : null;
    this.sweeper?.unref();
  }

  get enabled(): boolean {
    return this.options.maxEvents > 0;
  }

  /** The position of the latest event recorded on this node (0 before any). */
  get lastLsn(): number {
    return this.lsn;
  }

  nextLsn(): number {
    return ++this.lsn;
  }

  register(stream: EventStream): void {
    const ref = new WeakRef(stream);
    this.streams.set(stream.name, ref);
    this.finalizer.register(stream, { name: stream.name, ref });
  }

  noteTopic(topic: string, stream: string): void {
    const owners = this.topicOwners.get(topic);
    if (!owners) this.topicOwners.set(topic, new Set([stream]));
    else owners.add(stream);
  }

  get(name: string): EventStream | undefined {
    return this.streams.get(name)?.deref();
  }

  /** The live streams that published to `topic` since they were hydrated. */
  ownersOf(topic: string): EventStream[] {
    const out: EventStream[] = [];
    for (const name of this.topicOwners.get(topic) ?? []) {
      const s = this.get(name);
      if (s) out.push(s);
    }
    return out;
  }

  /** Drops aged events from every buffer and forgets collected streams and their topics. */
  sweep(): void {
    for (const [name, ref] of this.streams) {
      const s = ref.deref();
      if (s) s.prune();
      else this.streams.delete(name);
    }
    for (const [topic, names] of this.topicOwners) {
      for (const name of names) if (!this.streams.has(name)) names.delete(name);
      if (names.size === 0) this.topicOwners.delete(topic);
    }
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** Number of registered, still reachable streams (for tests and /health). */
  get size(): number {
    let n = 0;
    for (const ref of this.streams.values()) if (ref.deref()) n++;
    return n;
  }
}

export class EventStream {
  readonly epoch: number;
  private seq = 0;
  private readonly registry: StreamRegistry | null;
  /** Buffered events are buf[start..]; the array is compacted when its dead prefix grows. */
  private buf: BufferedEvent[] = [];
  private start = 0;
  private bytes = 0;
  /** lsn of the newest event dropped from the buffer (0: none dropped yet). */
  private droppedLsn = 0;

  constructor(readonly name: string, private readonly bus: Bus, private readonly clock: Clock) {
    this.epoch = nextEpoch(clock);
    this.registry = bus.streams ?? null;
    this.registry?.register(this);
  }

  /** Publishes `type`/`data` to `topic` as the next event of this stream. */
  emit(topic: string, type: string, data: unknown): void {
    this.seq++;
    const bytes = encodeEvent(type, this.name, this.epoch, this.seq, data);
    if (this.registry?.enabled) this.record(topic, bytes, this.registry);
    this.bus.publish(topic, bytes);
  }

  get position(): StreamPosition {
    return { epoch: this.epoch, seq: this.seq };
  }

  /** lsn of the newest event no longer in the buffer; events after it on this stream are all buffered. */
  get lostLsn(): number {
    return this.droppedLsn;
  }

  /** Every buffered event with seq > afterSeq, if the buffer still holds all of them. */
  since(afterSeq: number): SinceResult {
    if (afterSeq > this.seq) return { ok: false, reason: 'ahead' };
    if (afterSeq === this.seq) return { ok: true, events: [] };
    this.prune();
    const count = this.buf.length - this.start;
    const oldest = this.seq - count + 1;
    if (afterSeq + 1 < oldest) return { ok: false, reason: 'gap' };
    return { ok: true, events: this.buf.slice(this.start + (afterSeq + 1 - oldest)) };
  }

  /** The buffered events, oldest first. */
  buffered(): readonly BufferedEvent[] {
    this.prune();
    return this.buf.slice(this.start);
  }

  /** Drops events beyond the count, byte and age limits. */
  prune(): void {
    if (!this.registry) return;
    const { maxEvents, maxBytes, maxAgeMs } = this.registry.options;
    const cutoff = this.clock.now() - maxAgeMs;
    while (this.start < this.buf.length) {
      const e = this.buf[this.start]!;
      if (this.buf.length - this.start <= maxEvents && this.bytes <= maxBytes && e.at >= cutoff) break;
      this.bytes -= e.bytes.length;
      this.droppedLsn = e.lsn;
      this.start++;
    }
    if (this.start > 64 && this.start * 2 > this.buf.length) {
      this.buf = this.buf.slice(this.start);
      this.start = 0;
    }
  }

  private record(topic: string, bytes: Uint8Array, registry: StreamRegistry): void {
    this.buf.push({ seq: this.seq, topic, at: this.clock.now(), lsn: registry.nextLsn(), bytes });
    this.bytes += bytes.length;
    registry.noteTopic(topic, this.name);
    this.prune();
  }
}
