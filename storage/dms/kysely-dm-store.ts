/**
 * DmStore over Kysely (Postgres or PGlite): direct (1:1) and group conversations and their
 * participants. A direct DM is found by its pair row (dm_pairs); a group DM has none.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { DmStore } from '../ports.ts';
import { toStorageError } from '../pg-errors.ts';
import type { DmRecord } from '../records.ts';
import { toDate, toMillis, type DB } from '../schema.ts';

const CONFLICTS = { dms_pkey: 'dm' } as const;

/** Keeps `IN (…)` lists well under the 65535 bind-parameter limit. */
const IDS_PER_QUERY = 1000;

/** Thrown inside the creating transaction to roll it back when another caller won the pair. */
class PairTaken extends Error {}

type Reader = Kysely<DB> | Transaction<DB>;
type DmRow = { id: string; created_at: Date; last_message_id: string | null; type: number; name: string | null; owner_id: string | null };
const DM_COLUMNS = ['dms.id', 'dms.created_at', 'dms.last_message_id', 'dms.type', 'dms.name', 'dms.owner_id'] as const;

/** The pair in the order the dm_pairs check constraint wants (numeric, not string, order). */
function orderPair(a: string, b: string): [string, string] {
  return BigInt(a) <= BigInt(b) ? [a, b] : [b, a];
}

export class KyselyDmStore implements DmStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Lock-free fast path for an existing pair; otherwise inserts the DM and claims the pair with
   * `ON CONFLICT DO NOTHING` in one transaction. A loser of a concurrent race rolls back its DM
   * and reads the winner's, which is committed by then (the conflicting insert waited for it).
   * a === b yields a DM with one participant.
   */
  async findOrCreatePair(a: string, b: string, newId: string, now: number): Promise<{ dm: DmRecord; created: boolean }> {
    const [low, high] = orderPair(a, b);
    try {
      const existing = await this.findPairIn(this.db, low, high);
      if (existing) return { dm: existing, created: false };
      try {
        await this.db.transaction().execute(async (trx) => {
          await trx.insertInto('dms').values({ id: newId, created_at: toDate(now), last_message_id: null }).execute();
          const claimed = await trx
            .insertInto('dm_pairs')
            .values({ user_low: low, user_high: high, dm_id: newId })
            .onConflict((oc) => oc.columns(['user_low', 'user_high']).doNothing())
            .returning('dm_id')
            .executeTakeFirst();
          if (!claimed) throw new PairTaken();
          const participants = low === high ? [low] : [low, high];
          await trx.insertInto('dm_participants').values(participants.map((user_id) => ({ dm_id: newId, user_id, joined_at: toDate(now) }))).execute();
        });
        const dm: DmRecord = { id: newId, createdAt: now, participantIds: low === high ? [low] : [low, high], lastMessageId: null, type: 1, name: null, ownerId: null };
        return { dm, created: true };
      } catch (err) {
        if (!(err instanceof PairTaken)) throw err;
        const winner = await this.findPairIn(this.db, low, high);
        if (!winner) throw new Error(`dm pair ${low}:${high} vanished after conflict`);
        return { dm: winner, created: false };
      }
    } catch (err) {
      throw toStorageError(err, CONFLICTS);
    }
  }

  async load(id: string): Promise<DmRecord | null> {
    try {
      const dms = await this.withParticipants(this.db, await this.db.selectFrom('dms').select(DM_COLUMNS).where('id', '=', id).execute());
      return dms[0] ?? null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Ordered by last message id, else the DM's own id (both snowflakes, i.e. time), newest first. */
  async listForUser(userId: string): Promise<DmRecord[]> {
    try {
      const rows = await this.db
        .selectFrom('dms')
        .innerJoin('dm_participants as p', 'p.dm_id', 'dms.id')
        .select(DM_COLUMNS)
        .where('p.user_id', '=', userId)
        .orderBy((eb) => eb.fn.coalesce('dms.last_message_id', 'dms.id'), 'desc')
        .orderBy('dms.id', 'desc')
        .execute();
      return await this.withParticipants(this.db, rows);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Monotonic: an older id than the recorded one is ignored, so out-of-order touches are harmless. */
  async touch(id: string, lastMessageId: string): Promise<void> {
    try {
      await this.db
        .updateTable('dms')
        .set({ last_message_id: lastMessageId })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('last_message_id', 'is', null), eb('last_message_id', '<', lastMessageId)]))
        .execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async findPair(a: string, b: string): Promise<DmRecord | null> {
    const [low, high] = orderPair(a, b);
    try {
      return await this.findPairIn(this.db, low, high);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async createGroup(dm: DmRecord): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('dms').values({
          id: dm.id, created_at: toDate(dm.createdAt), last_message_id: dm.lastMessageId, type: dm.type, name: dm.name, owner_id: dm.ownerId,
        }).execute();
        // Distinct joined_at values keep the creation order (owner first) for participantIds.
        await trx.insertInto('dm_participants')
          .values(dm.participantIds.map((user_id, i) => ({ dm_id: dm.id, user_id, joined_at: toDate(dm.createdAt + i) })))
          .execute();
      });
    } catch (err) {
      throw toStorageError(err, CONFLICTS);
    }
  }

  async addParticipant(dmId: string, userId: string, now: number): Promise<boolean> {
    try {
      const row = await this.db
        .insertInto('dm_participants')
        .values({ dm_id: dmId, user_id: userId, joined_at: toDate(now) })
        .onConflict((oc) => oc.columns(['dm_id', 'user_id']).doNothing())
        .returning('user_id')
        .executeTakeFirst();
      return row !== undefined;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async removeParticipant(dmId: string, userId: string): Promise<boolean> {
    try {
      const r = await this.db.deleteFrom('dm_participants').where('dm_id', '=', dmId).where('user_id', '=', userId).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async updateGroup(dmId: string, patch: Partial<Pick<DmRecord, 'name' | 'ownerId'>>): Promise<void> {
    const set: { name?: string | null; owner_id?: string | null } = {};
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.ownerId !== undefined) set.owner_id = patch.ownerId;
    if (Object.keys(set).length === 0) return;
    try {
      await this.db.updateTable('dms').set(set).where('id', '=', dmId).execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /**
   * The activity id comes from messages (messages_channel_id_idx, newest first, one row per DM) so a
   * deleted newest message no longer counts; DMs without messages use their own id.
   */
  async listPage(userId: string, query: { before: string | null; limit: number }): Promise<{ dm: DmRecord; activityId: string; lastMessageId: string | null }[]> {
    try {
      const activity = sql<string>`coalesce(lm.id, dms.id)`;
      let q = this.db
        .selectFrom('dm_participants as p')
        .innerJoin('dms', 'dms.id', 'p.dm_id')
        .leftJoinLateral(
          (eb) => eb.selectFrom('messages').select('messages.id').whereRef('messages.channel_id', '=', 'dms.id').orderBy('messages.id', 'desc').limit(1).as('lm'),
          (join) => join.onTrue(),
        )
        .select([...DM_COLUMNS, 'lm.id as last_id'])
        .where('p.user_id', '=', userId);
      if (query.before !== null) q = q.where(sql<boolean>`${activity} < cast(${query.before} as int8)`);
      const rows = await q.orderBy(activity, 'desc').orderBy('dms.id', 'desc').limit(query.limit).execute();
      const dms = await this.withParticipants(this.db, rows);
      return dms.map((dm, i) => {
        const last = rows[i]!.last_id ?? null;
        return { dm, activityId: last ?? dm.id, lastMessageId: last };
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  private async findPairIn(db: Reader, low: string, high: string): Promise<DmRecord | null> {
    const rows = await db
      .selectFrom('dm_pairs')
      .innerJoin('dms', 'dms.id', 'dm_pairs.dm_id')
      .select(DM_COLUMNS)
      .where('dm_pairs.user_low', '=', low)
      .where('dm_pairs.user_high', '=', high)
      .execute();
    return (await this.withParticipants(db, rows))[0] ?? null;
  }

  /** Attaches participant ids (in joining order, then ascending) to DM rows, keeping the rows' order. */
  private async withParticipants(db: Reader, rows: ReadonlyArray<DmRow>): Promise<DmRecord[]> {
    const byDm = new Map<string, string[]>();
    for (let i = 0; i < rows.length; i += IDS_PER_QUERY) {
      const participants = await db
        .selectFrom('dm_participants')
        .select(['dm_id', 'user_id'])
        .where('dm_id', 'in', rows.slice(i, i + IDS_PER_QUERY).map((r) => r.id))
        .orderBy('dm_id')
        .orderBy('joined_at')
        .orderBy('user_id')
        .execute();
      for (const p of participants) {
        const list = byDm.get(p.dm_id);
        if (list) list.push(p.user_id);
        else byDm.set(p.dm_id, [p.user_id]);
      }
    }
    return rows.map((r) => ({
      id: r.id,
      createdAt: toMillis(r.created_at),
      participantIds: byDm.get(r.id) ?? [],
      lastMessageId: r.last_message_id,
      type: r.type,
      name: r.name,
      ownerId: r.owner_id,
    }));
  }
}
