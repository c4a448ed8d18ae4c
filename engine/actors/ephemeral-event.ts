import { encodeEvent } from '../../protocol/codec.ts';
import type { Bus } from '../cluster/bus.ts';
import type { EventStream } from './event-stream.ts';

/**
 * Publishes an event that is not part of its stream's order (typing indicators): seq 0, never
 * buffered for replay, never persisted. Clients must not treat it as a position in the stream.
 */
export function publishEphemeral(bus: Bus, stream: EventStream, topic: string, type: string, data: unknown): void {
  bus.publish(topic, encodeEvent(type, stream.name, stream.epoch, 0, data));
}
