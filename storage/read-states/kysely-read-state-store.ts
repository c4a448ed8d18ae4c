/** ReadStateStore over Kysely: one row per (user, channel or DM). */
import { sql, type Kysely } from 'kysely';
import type { ReadStateStore } from '../ports.ts';
import { toStorageError } from '../pg-errors.ts';
import type { ReadStateRecord } from '../records.ts';
import type { DB } from '../schema.ts';

const toRecord = (r: { user_id: string; channel_id: string; last_read_id: string; mention_count: number }): ReadStateRecord => ({
  userId: r.user_id, channelId: r.channel_id, lastReadId: r.last_read_id, mentionCount: r.mention_count,
});

export class KyselyReadStateStore implements ReadStateStore {
  constructor(private readonly db: Kysely<DB>) {}

  async ack(userId: string, channelId: string, lastReadId: string): Promise<ReadStateRecord> {
    try {
      const row = await this.db
        .insertInto('read_states')
        .values({ user_id: userId, channel_id: channelId, last_read_id: lastReadId, mention_count: 0, updated_at: new Date() })
        .onConflict((oc) =>
          oc.columns(['user_id', 'channel_id']).doUpdateSet({
            last_read_id: sql`greatest(read_states.last_read_id, excluded.last_read_id)`,
            mention_count: 0,
            updated_at: new Date(),
          }),
        )
        .returning(['user_id', 'channel_id', 'last_read_id', 'mention_count'])
        .executeTakeFirstOrThrow();
      return toRecord(row);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async addMentions(channelId: string, userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    try {
      await this.db
        .insertInto('read_states')
        .values([...new Set(userIds)].map((u) => ({ user_id: u, channel_id: channelId, last_read_id: '0', mention_count: 1, updated_at: new Date() })))
        .onConflict((oc) => oc.columns(['user_id', 'channel_id']).doUpdateSet({ mention_count: sql`read_states.mention_count + 1` }))
        .execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async list(userId: string): Promise<ReadStateRecord[]> {
    try {
      const rows = await this.db
        .selectFrom('read_states')
        .select(['user_id', 'channel_id', 'last_read_id', 'mention_count'])
        .where('user_id', '=', userId)
        .execute();
      return rows.map(toRecord);
    } catch (err) {
      throw toStorageError(err);
    }
  }
}
