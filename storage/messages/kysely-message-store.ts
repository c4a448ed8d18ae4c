/** MessageStore over Kysely (Postgres or PGlite): the append path and channel history. */
import type { Kysely, Selectable } from 'kysely';
import type { HistoryQuery, MessageStore } from '../ports.ts';
import { toStorageError } from '../pg-errors.ts';
import type { MessageRecord, ReactionRecord } from '../records.ts';
import { jsonb, toDate, toMillis, type DB, type MessagesTable } from '../schema.ts';

/** Rows per INSERT statement: 9 parameters each keeps a statement far below the 65535 limit. */
export const INSERT_CHUNK_ROWS = 1000;

const CONFLICTS = { messages_pkey: 'message' } as const;

function toRow(m: MessageRecord) {
  return {
    id: m.id,
    type: m.type,
    mentions: m.mentions === null ? null : jsonb(m.mentions),
    channel_id: m.channelId,
    guild_id: m.guildId,
    author_id: m.authorId,
    content: m.content,
    nonce: m.nonce,
    created_at: toDate(m.createdAt),
    edited_at: m.editedAt === null ? null : toDate(m.editedAt),
    reply_to_id: m.replyToId,
    pinned_at: m.pinnedAt === null ? null : toDate(m.pinnedAt),
  };
}

const ms = (d: Date | null) => (d === null ? null : toMillis(d));

function toRecord(row: Selectable<MessagesTable>): MessageRecord {
  return {
    id: row.id,
    type: row.type,
    mentions: row.mentions,
    channelId: row.channel_id,
    guildId: row.guild_id,
    authorId: row.author_id,
    content: row.content,
    nonce: row.nonce,
    createdAt: toMillis(row.created_at),
    editedAt: ms(row.edited_at),
    replyToId: row.reply_to_id,
    pinnedAt: ms(row.pinned_at),
  };
}

export class KyselyMessageStore implements MessageStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * One multi-row INSERT per INSERT_CHUNK_ROWS rows, all in one transaction; a batch that fits in
   * one statement skips BEGIN/COMMIT (a lone statement is its own transaction), saving two round
   * trips on the group-commit path. Either all rows are committed or none; a duplicate id fails
   * the whole call with ConflictError('message'). A repeated (channel, author, nonce) is skipped
   * (ON CONFLICT DO NOTHING on messages_nonce_key) and reported as false.
   */
  async insertMany(rows: readonly MessageRecord[]): Promise<boolean[]> {
    if (rows.length === 0) return [];
    const written = new Set<string>();
    const insert = async (db: Kysely<DB>, chunk: readonly MessageRecord[]) => {
      const out = await db
        .insertInto('messages')
        .values(chunk.map(toRow))
        .onConflict((oc) => oc.columns(['channel_id', 'author_id', 'nonce']).where('nonce', 'is not', null).doNothing())
        .returning('id')
        .execute();
      for (const r of out) written.add(r.id);
    };
    try {
      if (rows.length <= INSERT_CHUNK_ROWS) await insert(this.db, rows);
      else {
        await this.db.transaction().execute(async (trx) => {
          for (let i = 0; i < rows.length; i += INSERT_CHUNK_ROWS) await insert(trx, rows.slice(i, i + INSERT_CHUNK_ROWS));
        });
      }
    } catch (err) {
      throw toStorageError(err, CONFLICTS);
    }
    return rows.map((r) => written.has(r.id));
  }

  async findMany(channelId: string, ids: readonly string[]): Promise<MessageRecord[]> {
    if (ids.length === 0) return [];
    try {
      const rows = await this.db.selectFrom('messages').selectAll().where('channel_id', '=', channelId).where('id', 'in', [...ids]).execute();
      return rows.map(toRecord);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async findByNonce(channelId: string, authorId: string, nonce: string): Promise<MessageRecord | null> {
    try {
      const row = await this.db
        .selectFrom('messages')
        .selectAll()
        .where('channel_id', '=', channelId)
        .where('author_id', '=', authorId)
        .where('nonce', '=', nonce)
        .executeTakeFirst();
      return row ? toRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async update(
    channelId: string,
    messageId: string,
    patch: Partial<Pick<MessageRecord, 'content' | 'editedAt' | 'mentions' | 'pinnedAt'>>,
  ): Promise<boolean> {
    const set: Record<string, unknown> = {};
    if (patch.content !== undefined) set.content = patch.content;
    if (patch.editedAt !== undefined) set.edited_at = patch.editedAt === null ? null : toDate(patch.editedAt);
    if (patch.pinnedAt !== undefined) set.pinned_at = patch.pinnedAt === null ? null : toDate(patch.pinnedAt);
    if (patch.mentions !== undefined) set.mentions = patch.mentions === null ? null : jsonb(patch.mentions);
    if (Object.keys(set).length === 0) return true;
    try {
      const result = await this.db
        .updateTable('messages')
        .set(set)
        .where('id', '=', messageId)
        .where('channel_id', '=', channelId)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async lastMessageIds(channelIds: readonly string[]): Promise<Map<string, string>> {
    if (channelIds.length === 0) return new Map();
    try {
      const rows = await this.db
        .selectFrom('messages')
        .select(['channel_id', (eb) => eb.fn.max('id').as('last_id')])
        .where('channel_id', 'in', [...channelIds])
        .groupBy('channel_id')
        .execute();
      return new Map(rows.map((r) => [r.channel_id, String(r.last_id)]));
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async pinned(channelId: string): Promise<MessageRecord[]> {
    try {
      const rows = await this.db
        .selectFrom('messages')
        .selectAll()
        .where('channel_id', '=', channelId)
        .where('pinned_at', 'is not', null)
        .orderBy('pinned_at', 'desc')
        .limit(100)
        .execute();
      return rows.map(toRecord);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async addReaction(r: ReactionRecord): Promise<boolean> {
    try {
      const out = await this.db
        .insertInto('reactions')
        .values({ message_id: r.messageId, channel_id: r.channelId, user_id: r.userId, emoji: r.emoji, created_at: toDate(r.createdAt) })
        .onConflict((oc) => oc.columns(['message_id', 'emoji', 'user_id']).doNothing())
        .executeTakeFirst();
      return (out.numInsertedOrUpdatedRows ?? 0n) > 0n;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async removeReaction(messageId: string, userId: string, emoji: string): Promise<boolean> {
    try {
      const out = await this.db
        .deleteFrom('reactions')
        .where('message_id', '=', messageId)
        .where('user_id', '=', userId)
        .where('emoji', '=', emoji)
        .executeTakeFirst();
      return out.numDeletedRows > 0n;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async reactions(messageIds: readonly string[]): Promise<ReactionRecord[]> {
    if (messageIds.length === 0) return [];
    try {
      const rows = await this.db.selectFrom('reactions').selectAll().where('message_id', 'in', [...messageIds]).orderBy('created_at').execute();
      return rows.map((r) => ({ messageId: r.message_id, channelId: r.channel_id, userId: r.user_id, emoji: r.emoji, createdAt: toMillis(r.created_at) }));
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async findById(channelId: string, messageId: string): Promise<MessageRecord | null> {
    try {
      const row = await this.db
        .selectFrom('messages')
        .selectAll()
        .where('id', '=', messageId)
        .where('channel_id', '=', channelId)
        .executeTakeFirst();
      return row ? toRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Deletes the message and its reactions; false when no message with that id exists in that channel. */
  async delete(channelId: string, messageId: string): Promise<boolean> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const result = await trx.deleteFrom('messages').where('id', '=', messageId).where('channel_id', '=', channelId).executeTakeFirst();
        if (result.numDeletedRows === 0n) return false;
        await trx.deleteFrom('reactions').where('message_id', '=', messageId).execute();
        return true;
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Newest first, served by the (channel_id, id desc) index; `limit` is clamped to 1..100. */
  async history(channelId: string, query: HistoryQuery): Promise<MessageRecord[]> {
    const limit = Math.min(100, Math.max(1, Math.trunc(query.limit) || 1));
    const base = () => this.db.selectFrom('messages').selectAll().where('channel_id', '=', channelId);
    try {
      if (query.around) {
        const older = Math.floor(limit / 2);
        const [before, atAndAfter] = await Promise.all([
          older > 0 ? base().where('id', '<', query.around).orderBy('id', 'desc').limit(older).execute() : Promise.resolve([]),
          base().where('id', '>=', query.around).orderBy('id', 'asc').limit(limit - older).execute(),
        ]);
        return [...atAndAfter.reverse(), ...before].map(toRecord);
      }
      if (query.after) {
        let q = base().where('id', '>', query.after);
        if (query.before !== null) q = q.where('id', '<', query.before);
        const rows = await q.orderBy('id', 'asc').limit(limit).execute();
        return rows.reverse().map(toRecord);
      }
      let q = base();
      if (query.before !== null) q = q.where('id', '<', query.before);
      const rows = await q.orderBy('id', 'desc').limit(limit).execute();
      return rows.map(toRecord);
    } catch (err) {
      throw toStorageError(err);
    }
  }
}
