/** MessageStore over Kysely (Postgres or PGlite): the append path and channel history. */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { HistoryQuery, MessageStore } from '../ports.ts';
import { toStorageError } from '../pg-errors.ts';
import type { MessageRecord, ReactionRecord } from '../records.ts';
import { jsonb, toDate, toMillis, type DB, type MessagesTable } from '../schema.ts';

/** Rows per INSERT statement (its parameters are 12 arrays, so this only bounds one statement's size). */
export const INSERT_CHUNK_ROWS = 1000;

const CONFLICTS = { messages_pkey: 'message' } as const;

/**
 * The group-commit INSERT: one statement text whatever the batch size, with one array parameter
 * per column expanded by unnest — 12 parameters instead of 12 per row, and no query building on
 * the hot path (a multi-row VALUES statement of 1000 rows cost more to compile than to run).
 * Times travel as epoch milliseconds and become timestamptz in SQL, exactly (integer µs).
 */
function insertStatement(chunk: readonly MessageRecord[]) {
  const n = chunk.length;
  const cols = {
    id: new Array<string>(n), type: new Array<number>(n), mentions: new Array<string | null>(n), channel: new Array<string>(n),
    guild: new Array<string | null>(n), author: new Array<string>(n), content: new Array<string>(n), nonce: new Array<string | null>(n),
    created: new Array<number>(n), edited: new Array<number | null>(n), replyTo: new Array<string | null>(n), pinned: new Array<number | null>(n),
  };
  for (let i = 0; i < n; i++) {
    const m = chunk[i]!;
    cols.id[i] = m.id;
    cols.type[i] = m.type;
    cols.mentions[i] = m.mentions === null ? null : JSON.stringify(m.mentions);
    cols.channel[i] = m.channelId;
    cols.guild[i] = m.guildId;
    cols.author[i] = m.authorId;
    cols.content[i] = m.content;
    cols.nonce[i] = m.nonce;
    cols.created[i] = m.createdAt;
    cols.edited[i] = m.editedAt;
    cols.replyTo[i] = m.replyToId;
    cols.pinned[i] = m.pinnedAt;
  }
  const at = (c: string) => sql.raw(`timestamptz 'epoch' + ${c} * interval '1 millisecond'`);
  return sql<{ id: string }>`
    insert into messages (id, type, mentions, channel_id, guild_id, author_id, content, nonce, created_at, edited_at, reply_to_id, pinned_at)
    select id, type, mentions, channel_id, guild_id, author_id, content, nonce, ${at('created_ms')}, ${at('edited_ms')}, reply_to_id, ${at('pinned_ms')}
    from unnest(${cols.id}::int8[], ${cols.type}::int2[], ${cols.mentions}::jsonb[], ${cols.channel}::int8[], ${cols.guild}::int8[],
                ${cols.author}::int8[], ${cols.content}::text[], ${cols.nonce}::text[], ${cols.created}::int8[], ${cols.edited}::int8[],
                ${cols.replyTo}::int8[], ${cols.pinned}::int8[])
      as t(id, type, mentions, channel_id, guild_id, author_id, content, nonce, created_ms, edited_ms, reply_to_id, pinned_ms)
    on conflict (channel_id, author_id, nonce) where nonce is not null do nothing
    returning id::text as id`;
}

/** One reaction as the history query aggregates it (createdAt may arrive as a string: int8 in JSON). */
interface ReactionJson {
  userId: string;
  emoji: string;
  createdAt: number | string;
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
      const out = await insertStatement(chunk).execute(db);
      for (const r of out.rows) written.add(r.id);
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
  async historyWithReactions(channelId: string, query: HistoryQuery): Promise<{ messages: MessageRecord[]; reactions: ReactionRecord[] }> {
    if (query.after || query.around) {
      const messages = await this.history(channelId, query);
      return { messages, reactions: await this.reactions(messages.map((m) => m.id)) };
    }
    const limit = Math.min(100, Math.max(1, Math.trunc(query.limit) || 1));
    try {
      let q = this.db
        .selectFrom('messages')
        .selectAll('messages')
        .select(sql<ReactionJson[]>`(
          select coalesce(json_agg(json_build_object('userId', r.user_id::text, 'emoji', r.emoji,
            'createdAt', floor(extract(epoch from r.created_at) * 1000)::int8) order by r.created_at), '[]'::json)
          from reactions r where r.message_id = messages.id)`.as('reactions_json'))
        .where('channel_id', '=', channelId);
      if (query.before !== null) q = q.where('id', '<', query.before);
      const rows = await q.orderBy('id', 'desc').limit(limit).execute();
      const reactions: ReactionRecord[] = [];
      for (const row of rows) {
        const list = typeof row.reactions_json === 'string' ? (JSON.parse(row.reactions_json) as ReactionJson[]) : row.reactions_json;
        for (const r of list) reactions.push({ messageId: row.id, channelId, userId: r.userId, emoji: r.emoji, createdAt: Number(r.createdAt) });
      }
      return { messages: rows.map(toRecord), reactions };
    } catch (err) {
      throw toStorageError(err);
    }
  }

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
