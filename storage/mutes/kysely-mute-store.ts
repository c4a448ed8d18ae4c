/** MuteStore over Kysely: one row per (user, muted channel, guild or DM). */
import type { Kysely } from 'kysely';
import type { MuteStore } from '../ports.ts';
import { toStorageError } from '../pg-errors.ts';
import type { MuteRecord } from '../records.ts';
import { toDate, toMillis, type DB } from '../schema.ts';

export class KyselyMuteStore implements MuteStore {
  constructor(private readonly db: Kysely<DB>) {}

  async set(m: MuteRecord): Promise<void> {
    const until = m.until === null ? null : toDate(m.until);
    try {
      await this.db
        .insertInto('mutes')
        .values({ user_id: m.userId, target_id: m.targetId, target_type: m.targetType, until })
        .onConflict((oc) => oc.columns(['user_id', 'target_id']).doUpdateSet({ target_type: m.targetType, until }))
        .execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async delete(userId: string, targetId: string): Promise<boolean> {
    try {
      const r = await this.db.deleteFrom('mutes').where('user_id', '=', userId).where('target_id', '=', targetId).executeTakeFirst();
      return r.numDeletedRows > 0n;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async list(userId: string): Promise<MuteRecord[]> {
    try {
      const rows = await this.db.selectFrom('mutes').selectAll().where('user_id', '=', userId).execute();
      return rows.map((r) => ({
        userId: r.user_id, targetId: r.target_id, targetType: r.target_type as MuteRecord['targetType'], until: r.until === null ? null : toMillis(r.until),
      }));
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async mutedAmong(userIds: readonly string[], targetIds: readonly string[], now: number): Promise<Set<string>> {
    if (userIds.length === 0 || targetIds.length === 0) return new Set();
    try {
      const rows = await this.db
        .selectFrom('mutes')
        .select('user_id')
        .where('user_id', 'in', [...userIds])
        .where('target_id', 'in', [...targetIds])
        .where((eb) => eb.or([eb('until', 'is', null), eb('until', '>', toDate(now))]))
        .execute();
      return new Set(rows.map((r) => r.user_id));
    } catch (err) {
      throw toStorageError(err);
    }
  }
}
