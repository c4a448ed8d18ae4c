/**
 * How events leave actors. An actor publishes an already-encoded event to a topic; every gateway
 * (on every node) hands it to the sockets subscribed to that topic. Visibility is topic membership:
 * actors change which topics a user's sessions hold with `retopic`, never by filtering at send time.
 */
import type { StreamRegistry } from '../actors/event-stream.ts';

export interface TopicChange {
  subscribe?: readonly string[];
  unsubscribe?: readonly string[];
}

/** The gateway side of the bus: the callbacks an adapter invokes on each node. */
export interface BusListener {
  /** Deliver an encoded event (see encodeEvent) to the local subscribers of `topic`. */
  deliver(topic: string, event: Uint8Array): void;
  /** Apply a subscription change to every local session of `userId`. */
  retopic(userId: string, change: TopicChange): void;
}

export interface Bus {
  /**
   * The registry of the event streams owned by actors on this node, with their replay buffers
   * (see EventStream). Absent: streams keep no buffer and resume always asks for a resync.
   */
  readonly streams?: StreamRegistry;
  publish(topic: string, event: Uint8Array): void;
  retopic(userId: string, change: TopicChange): void;
  /** Registers this node's gateway. */
  listen(listener: BusListener): void;
  close(): Promise<void>;
}
