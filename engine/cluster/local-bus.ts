import type { StreamRegistry } from '../actors/event-stream.ts';
import type { Bus, BusListener, TopicChange } from './bus.ts';

/** Single-node bus: events go straight to this process's gateway. */
export class LocalBus implements Bus {
  private listener: BusListener | null = null;

  constructor(readonly streams?: StreamRegistry) {}

  listen(listener: BusListener): void {
    this.listener = listener;
  }

  publish(topic: string, event: Uint8Array): void {
    this.listener?.deliver(topic, event);
  }

  retopic(userId: string, change: TopicChange): void {
    this.listener?.retopic(userId, change);
  }

  async close(): Promise<void> {
    this.listener = null;
  }
}
