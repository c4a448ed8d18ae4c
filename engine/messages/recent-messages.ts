/**
 * The newest committed messages of one channel, kept by the owning actor so the latest history
 * page of a hot channel is served from memory. Messages are pushed in commit order, which is id
 * order within one actor. The cache only answers a page it can answer completely; otherwise the
 * caller reads Postgres and primes it.
 */
import { compareSnowflakes } from '../../protocol/ids.ts';
import type { MessageRecord } from '../../storage/records.ts';

export class RecentMessages {
  /** Oldest first. */
  private items: MessageRecord[] = [];
  /** True once `items` is known to hold every message newer than its first element. */
  private primed = false;

  constructor(private readonly capacity: number) {}

  push(message: MessageRecord): void {
    // A history read racing with this message's commit may have primed it already: the read's
    // result can reach us before the writer's. Keep one copy. (Pushes come in id order, so only
    // an id not above the newest can be such a copy: the common case costs no scan.)
    const newest = this.items[this.items.length - 1];
    if (newest && compareSnowflakes(message.id, newest.id) <= 0 && this.has(message.id)) return;
    this.items.push(message);
    // Trimmed in steps of a quarter of the capacity, not one message at a time (splice is O(n)).
    if (this.items.length > this.capacity + (this.capacity >> 2)) {
      this.items.splice(0, this.items.length - this.capacity);
      // The oldest messages left memory but not the channel: it no longer starts at items[0].
      this.complete = false;
    }
  }

  /** Drops a deleted message; true if it was cached. */
  remove(id: string): boolean {
    const i = this.items.findIndex((m) => m.id === id);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  find(id: string): MessageRecord | undefined {
    return this.items.find((m) => m.id === id);
  }

  has(id: string): boolean {
    return this.items.some((m) => m.id === id);
  }

  /** Replaces a cached message (after an edit or pin); no-op if it is not cached. */
  replace(message: MessageRecord): void {
    const i = this.items.findIndex((m) => m.id === message.id);
    if (i >= 0) this.items[i] = message;
  }

  /**
   * Seeds the cache from a Postgres page (newest first) that was the channel's newest messages
   * when read; messages pushed meanwhile are kept. `complete` means the page reached the start of
   * the channel (fewer rows than asked), so an empty cache is an empty channel.
   */
  prime(newestFirst: readonly MessageRecord[], complete: boolean): void {
    const seen = new Set(this.items.map((m) => m.id));
    const older = newestFirst.filter((m) => !seen.has(m.id)).reverse();
    this.items = [...older, ...this.items].sort((a, b) => compareSnowflakes(a.id, b.id));
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
    this.primed = true;
    this.complete = complete && this.items.length < this.capacity;
  }

  private complete = false;

  /** The page newest-first for (before, limit), or null when memory cannot answer it completely. */
  page(before: string | null, limit: number): MessageRecord[] | null {
    if (!this.primed) return null;
    let end = this.items.length;
    if (before !== null) {
      end = 0;
      while (end < this.items.length && compareSnowflakes(this.items[end]!.id, before) < 0) end++;
      if (end === 0 && !this.complete) return null;
    }
    const start = end - limit;
    if (start < 0 && !this.complete) return null;
    return this.items.slice(Math.max(0, start), end).reverse();
  }
}
