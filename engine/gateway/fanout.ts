/**
 * Per-tick coalescing of published events: events bound for the same topic within one event-loop
 * iteration leave as one DISPATCH frame, published once to the topic so uWS fans it out in C++.
 * This keeps per-topic publishes per tick at one, however many events a hot channel produces.
 *
 * Per-stream order survives batching. A stream spans several topics (a guild's events go to its
 * guild topic and to each channel's topic), and a socket holding several of them must still see
 * the stream's events in seq order — the SDK and RESUME rely on it. So an event joins its topic's
 * open frame only if no later frame already holds an earlier event of its stream; otherwise a new
 * frame starts. Frames are published in creation order, and uWS delivers a socket's messages in
 * publish order, so e.g. seq 10 (#a), 11 (#b), 12 (#a) go out as three frames, not as [10, 12] +
 * [11]. A single hot topic still gets one frame per tick.
 */
import { encodeDispatch, eventStreamKey } from '../../protocol/codec.ts';

export type PublishFn = (topic: string, frame: Uint8Array) => void;

/** Something with replies to send once the events published before them have left. */
export interface ReplySender {
  sendReplies(): void;
}

interface Frame {
  topic: string;
  events: Uint8Array[];
  bytes: number;
}

export class TopicCoalescer {
  private frames: Frame[] = [];
  /** topic → index of the frame that still accepts its events. */
  private open = new Map<string, number>();
  /** stream → index of the frame holding its latest event this tick. */
  private latest = new Map<string, number>();
  /** Reply senders waiting for the frames created before their replies. */
  private after: ReplySender[] = [];
  private scheduled = false;

  /** A frame closes at `maxEventsPerFrame` events or once it holds `maxFrameBytes` (a larger single event still goes alone). */
  constructor(private readonly publish: PublishFn, private readonly maxEventsPerFrame = 256, private readonly maxFrameBytes = 64 * 1024) {}

  add(topic: string, event: Uint8Array): void {
    const stream = eventStreamKey(event);
    const last = this.latest.get(stream);
    let at = this.open.get(topic);
    const frame = at === undefined ? undefined : this.frames[at]!;
    if (
      frame === undefined ||
      (last !== undefined && last > at!) ||
      frame.events.length >= this.maxEventsPerFrame ||
      frame.bytes + event.length > this.maxFrameBytes
    ) {
      at = this.frames.push({ topic, events: [event], bytes: event.length }) - 1;
      this.open.set(topic, at);
    } else {
      frame.events.push(event);
      frame.bytes += event.length;
    }
    this.latest.set(stream, at!);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /**
   * Calls `sender.sendReplies()` once every event added so far has been published — at once when
   * none is pending. Replies go through here, so a reply never overtakes an event produced before
   * it (a history page never arrives ahead of the MESSAGE_CREATE of a message it contains).
   */
  readonly afterPending = (sender: ReplySender): void => {
    if (this.frames.length === 0) return sender.sendReplies();
    this.after.push(sender);
  };

  /** Publishes everything pending now, in order, then the replies that waited; also runs on its own once per tick. */
  readonly flush = (): void => {
    this.scheduled = false;
    const frames = this.frames;
    if (frames.length === 0) return;
    const after = this.after;
    this.frames = [];
    this.after = [];
    this.open = new Map();
    this.latest = new Map();
    for (const f of frames) this.publish(f.topic, encodeDispatch(f.events));
    for (const sender of after) sender.sendReplies();
  };
}
