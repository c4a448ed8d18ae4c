/** This node's live, identified connections by user, so actors can re-topic a user's sessions. */
import type { TopicChange } from '../cluster/bus.ts';

export interface TopicHolder {
  readonly userId: string | null;
  applyTopics(change: TopicChange): void;
}

export class SessionRegistry {
  private readonly byUser = new Map<string, Set<TopicHolder>>();

  add(userId: string, conn: TopicHolder): void {
    let set = this.byUser.get(userId);
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(conn);
  }

  remove(userId: string, conn: TopicHolder): void {
    const set = this.byUser.get(userId);
    if (!set) return;
    set.delete(conn);
    if (set.size === 0) this.byUser.delete(userId);
  }

  retopic(userId: string, change: TopicChange): void {
    const set = this.byUser.get(userId);
    if (set) for (const conn of set) conn.applyTopics(change);
  }

  sessionsOf(userId: string): number {
    return this.byUser.get(userId)?.size ?? 0;
  }

  get users(): number {
    return this.byUser.size;
  }
}
