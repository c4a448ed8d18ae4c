/**
 * One channel's (or DM's) messages, shared by guild and DM actors. Appends go through the
 * group-commit writer and resolve only after COMMIT; only committed messages enter the in-memory
 * recent page and are published. A repeated (author, nonce) resolves to the original message.
 * Reactions of cached messages are cached too, so the hot page is served without a query.
 */
import { compareSnowflakes } from '../../protocol/ids.ts';
import { ErrorCode } from '../../protocol/opcodes.ts';
import { CommandError } from '../command-error.ts';
import type { Message, MessagePreview, ReactionCount } from '../../protocol/types.ts';
import type { HistoryQuery, MessageStore } from '../../storage/ports.ts';
import type { MessageRecord, ReactionRecord } from '../../storage/records.ts';
import type { MessageWriter } from '../../storage/messages/message-writer.ts';
import { toWireMessage } from './message-view.ts';
import { RecentMessages } from './recent-messages.ts';

export interface MessageLogDeps {
  store: MessageStore;
  writer: MessageWriter;
  cacheSize: number;
}

/** emoji → users who reacted, in reaction order. */
type Reactions = Map<string, Set<string>>;

export const PREVIEW_CHARS = 200;

export class MessageLog {
  private readonly recent: RecentMessages;
  private readonly reactionCache = new Map<string, Reactions>();
  /**
   * Counts changes to existing messages (edit, pin, delete, reaction), once before and once after
   * each is written. Reads run outside the actor's mailbox, so a read that overlapped such a
   * change may hold stale rows: it still answers its caller (as of when it read) but does not seed
   * the caches.
   */
  private changes = 0;
  /** Newest committed message id, when known. */
  lastId: string | null;

  constructor(readonly channelId: string, private readonly deps: MessageLogDeps, lastId: string | null = null) {
    this.recent = new RecentMessages(deps.cacheSize);
    this.lastId = lastId;
  }

  /**
   * Resolves after `record` is committed, having run `onCommitted` first (in commit order). If the
   * author already sent a message with this nonce, resolves with that one and publishes nothing.
   */
  async append(record: MessageRecord, onCommitted: (m: MessageRecord) => void): Promise<MessageRecord> {
    const inserted = await this.deps.writer.write(record);
    if (!inserted) {
      const original = record.nonce === null ? null : await this.deps.store.findByNonce(this.channelId, record.authorId, record.nonce);
      if (original) return original;
      throw new CommandError(ErrorCode.UNKNOWN_MESSAGE, 'a message with this nonce was already sent and has since been deleted');
    }
    this.recent.push(record);
    this.reactionCache.set(record.id, new Map());
    if (this.lastId === null || compareSnowflakes(record.id, this.lastId) > 0) this.lastId = record.id;
    onCommitted(record);
    return record;
  }

  /** The message, from memory when cached, else from storage. */
  async find(id: string): Promise<MessageRecord | null> {
    return this.recent.find(id) ?? (await this.deps.store.findById(this.channelId, id));
  }

  /** Persists a patch (edit, pin) and returns the updated message, or null if it does not exist. */
  async update(message: MessageRecord, patch: Partial<Pick<MessageRecord, 'content' | 'editedAt' | 'mentions' | 'pinnedAt'>>): Promise<MessageRecord | null> {
    this.changes++;
    const updated = await this.deps.store.update(this.channelId, message.id, patch);
    this.changes++;
    if (!updated) return null;
    const next = { ...message, ...patch };
    this.recent.replace(next);
    return next;
  }

  /** Deletes a message from storage and memory; false if it did not exist. */
  async delete(id: string): Promise<boolean> {
    this.changes++;
    const deleted = await this.deps.store.delete(this.channelId, id);
    this.changes++;
    this.recent.remove(id);
    this.reactionCache.delete(id);
    return deleted;
  }

  /** Adds or removes `userId`'s `emoji`; false when nothing changed. */
  async react(messageId: string, userId: string, emoji: string, add: boolean, now: number): Promise<boolean> {
    this.changes++;
    const changed = add
      ? await this.deps.store.addReaction({ messageId, channelId: this.channelId, userId, emoji, createdAt: now })
      : await this.deps.store.removeReaction(messageId, userId, emoji);
    this.changes++;
    const cached = this.reactionCache.get(messageId);
    if (changed && cached) {
      const users = cached.get(emoji) ?? new Set<string>();
      if (add) users.add(userId);
      else users.delete(userId);
      if (users.size > 0) cached.set(emoji, users);
      else cached.delete(emoji);
    }
    return changed;
  }

  /** Distinct emoji on a message (cached or stored). */
  async emojiCount(messageId: string): Promise<number> {
    return (await this.reactionsOf([messageId])).get(messageId)?.size ?? 0;
  }

  /** A history page as `viewerId` sees it (see page()). Safe to run concurrently with the actor's other commands (see `changes`). */
  async history(query: HistoryQuery, viewerId: string): Promise<Message[]> {
    const { records, reactions } = await this.page(query);
    return this.present(records, viewerId, reactions);
  }

  /**
   * A history page, newest first: the latest pages from memory when it can answer completely, else
   * from storage — an old page together with its reactions, in one query.
   */
  private async page(query: HistoryQuery): Promise<{ records: MessageRecord[]; reactions?: Map<string, Reactions> }> {
    if (query.after || query.around) return { records: await this.deps.store.history(this.channelId, query) };
    const cached = this.recent.page(query.before, query.limit);
    if (cached) return { records: cached };
    if (query.before === null) {
      const fetchSize = Math.min(Math.max(query.limit, this.deps.cacheSize), 100);
      const changes = this.changes;
      const rows = await this.deps.store.history(this.channelId, { before: null, limit: fetchSize });
      if (changes === this.changes) this.recent.prime(rows, rows.length < fetchSize);
      return { records: rows.slice(0, query.limit) };
    }
    const { messages, reactions } = await this.deps.store.historyWithReactions(this.channelId, query);
    return { records: messages, reactions: groupReactions(messages.map((m) => m.id), reactions) };
  }

  pinned(): Promise<MessageRecord[]> {
    return this.deps.store.pinned(this.channelId);
  }

  /**
   * Wire messages as `viewerId` sees them: reply previews and reaction counts with `me`. `known`:
   * reactions already read for some of the messages (used where memory has none).
   */
  async present(records: readonly MessageRecord[], viewerId: string | null, known?: ReadonlyMap<string, Reactions>): Promise<Message[]> {
    const [reactions, previews] = await Promise.all([this.reactionsOf(records.map((r) => r.id), known), this.previewsOf(records)]);
    return records.map((r) => ({
      ...toWireMessage(r),
      referencedMessage: r.replyToId ? (previews.get(r.replyToId) ?? null) : null,
      reactions: countReactions(reactions.get(r.id), viewerId),
    }));
  }

  async preview(id: string): Promise<MessagePreview | null> {
    const m = await this.find(id);
    return m ? toPreview(m) : null;
  }

  private async previewsOf(records: readonly MessageRecord[]): Promise<Map<string, MessagePreview>> {
    const ids = [...new Set(records.map((r) => r.replyToId).filter((id): id is string => id !== null))];
    const out = new Map<string, MessagePreview>();
    const missing: string[] = [];
    for (const id of ids) {
      const m = this.recent.find(id) ?? records.find((r) => r.id === id);
      if (m) out.set(id, toPreview(m));
      else missing.push(id);
    }
    for (const m of await this.deps.store.findMany(this.channelId, missing)) out.set(m.id, toPreview(m));
    return out;
  }

  private async reactionsOf(ids: readonly string[], known?: ReadonlyMap<string, Reactions>): Promise<Map<string, Reactions>> {
    const out = new Map<string, Reactions>();
    const missing: string[] = [];
    for (const id of ids) {
      const cached = this.reactionCache.get(id) ?? known?.get(id);
      if (cached) out.set(id, cached);
      else missing.push(id);
    }
    if (missing.length > 0) {
      const changes = this.changes;
      for (const [id, r] of groupReactions(missing, await this.deps.store.reactions(missing))) out.set(id, r);
      if (changes === this.changes) for (const id of missing) if (this.recent.has(id)) this.reactionCache.set(id, out.get(id)!);
      this.trimReactionCache();
    }
    return out;
  }

  private trimReactionCache(): void {
    if (this.reactionCache.size <= 2 * this.deps.cacheSize + 16) return;
    for (const id of this.reactionCache.keys()) if (!this.recent.has(id)) this.reactionCache.delete(id);
  }
}

/** Per message id (every one of `ids`, none reacted to included): emoji → users, in reaction order. */
function groupReactions(ids: readonly string[], rows: readonly ReactionRecord[]): Map<string, Reactions> {
  const out = new Map<string, Reactions>(ids.map((id) => [id, new Map()]));
  for (const r of rows) {
    const byEmoji = out.get(r.messageId);
    if (!byEmoji) continue;
    const users = byEmoji.get(r.emoji) ?? new Set<string>();
    users.add(r.userId);
    byEmoji.set(r.emoji, users);
  }
  return out;
}

function toPreview(m: MessageRecord): MessagePreview {
  return { id: m.id, authorId: m.authorId, type: m.type, content: m.content.slice(0, PREVIEW_CHARS) };
}

function countReactions(r: Reactions | undefined, viewerId: string | null): ReactionCount[] {
  if (!r) return [];
  return [...r].map(([emoji, users]) => ({ emoji, count: users.size, me: viewerId !== null && users.has(viewerId) }));
}
