/**
 * RelationshipStore over Kysely (Postgres or PGlite). A relationship is stored once per side
 * (see migration 0005); every change to a pair happens in one transaction holding an advisory
 * lock on the pair, so two users acting on each other at once are applied one after the other.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { PairSnapshot, PairState, RelationshipStore } from '../ports.ts';
import { toStorageError } from '../pg-errors.ts';
import type { RelationshipRecord } from '../records.ts';
import { toDate, toMillis, type DB } from '../schema.ts';

/** Types that count against the relationship limit: friend, incoming, outgoing (not blocks). */
const COUNTED_TYPES = [1, 3, 4];
const IDS_PER_QUERY = 1000;

type Row = { user_id: string; other_id: string; type: number; created_at: Date };
const toRecord = (r: Row): RelationshipRecord => ({ userId: r.user_id, otherId: r.other_id, type: r.type, createdAt: toMillis(r.created_at) });

export class KyselyRelationshipStore implements RelationshipStore {
  constructor(private readonly db: Kysely<DB>) {}

  async list(userId: string): Promise<RelationshipRecord[]> {
    try {
      const rows = await this.db.selectFrom('relationships').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('other_id').execute();
      return rows.map(toRecord);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async get(userId: string, otherId: string): Promise<RelationshipRecord | null> {
    try {
      const row = await this.db.selectFrom('relationships').selectAll().where('user_id', '=', userId).where('other_id', '=', otherId).executeTakeFirst();
      return row ? toRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async pair(a: string, b: string): Promise<PairState> {
    try {
      const rows = await this.pairRows(this.db, a, b);
      return { ab: rows.ab?.type ?? null, ba: rows.ba?.type ?? null };
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async transition(
    a: string, b: string, now: number, decide: (current: PairSnapshot) => PairState,
  ): Promise<{ ab: RelationshipRecord | null; ba: RelationshipRecord | null }> {
    const [low, high] = BigInt(a) <= BigInt(b) ? [a, b] : [b, a];
    try {
      return await this.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(hashtextextended(${`relationship:${low}:${high}`}, 0))`.execute(trx);
        const rows = await this.pairRows(trx, a, b);
        const [countA, countB] = await Promise.all([this.countOf(trx, a), this.countOf(trx, b)]);
        const next = decide({ ab: rows.ab?.type ?? null, ba: rows.ba?.type ?? null, countA, countB });
        return {
          ab: await this.write(trx, a, b, rows.ab, next.ab, now),
          ba: await this.write(trx, b, a, rows.ba, next.ba, now),
        };
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async friendIds(userId: string): Promise<string[]> {
    try {
      const rows = await this.db.selectFrom('relationships').select('other_id').where('user_id', '=', userId).where('type', '=', 1).execute();
      return rows.map((r) => r.other_id);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async friendsOutside(userId: string, guildIds: readonly string[]): Promise<string[]> {
    try {
      let q = this.db.selectFrom('relationships as r').select('r.other_id').where('r.user_id', '=', userId).where('r.type', '=', 1);
      if (guildIds.length > 0) {
        q = q.where((eb) =>
          eb.not(eb.exists(eb.selectFrom('members as m').select('m.user_id').whereRef('m.user_id', '=', 'r.other_id').where('m.guild_id', 'in', [...guildIds]))));
      }
      return (await q.execute()).map((r) => r.other_id);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async guildMemberIds(guildIds: readonly string[], perGuild: number): Promise<string[]> {
    const out = new Set<string>();
    if (guildIds.length === 0 || perGuild <= 0) return [];
    try {
      for (let i = 0; i < guildIds.length; i += IDS_PER_QUERY) {
        const batch = guildIds.slice(i, i + IDS_PER_QUERY);
        // Per guild, the first `perGuild` members by user id: a range scan on members_pkey each.
        const rows = await sql<{ user_id: string }>`
          select m.user_id from (values ${sql.join(batch.map((id) => sql`(cast(${id} as int8))`))}) as g(id)
          cross join lateral (select user_id from members where guild_id = g.id order by user_id limit ${perGuild}) m`.execute(this.db);
        for (const r of rows.rows) out.add(String(r.user_id));
      }
      return [...out];
    } catch (err) {
      throw toStorageError(err);
    }
  }

  private async pairRows(db: Kysely<DB> | Transaction<DB>, a: string, b: string): Promise<{ ab: Row | undefined; ba: Row | undefined }> {
    const rows = await db
      .selectFrom('relationships')
      .selectAll()
      .where((eb) => eb.or([eb.and([eb('user_id', '=', a), eb('other_id', '=', b)]), eb.and([eb('user_id', '=', b), eb('other_id', '=', a)])]))
      .execute();
    return { ab: rows.find((r) => r.user_id === a), ba: rows.find((r) => r.user_id === b) };
  }

  private async countOf(trx: Transaction<DB>, userId: string): Promise<number> {
    const row = await trx
      .selectFrom('relationships')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('user_id', '=', userId)
      .where('type', 'in', COUNTED_TYPES)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async write(trx: Transaction<DB>, userId: string, otherId: string, current: Row | undefined, type: number | null, now: number): Promise<RelationshipRecord | null> {
    if (type === null) {
      if (current) await trx.deleteFrom('relationships').where('user_id', '=', userId).where('other_id', '=', otherId).execute();
      return null;
    }
    if (current && current.type === type) return toRecord(current);
    const row = { user_id: userId, other_id: otherId, type, created_at: toDate(now) };
    await trx
      .insertInto('relationships')
      .values(row)
      .onConflict((oc) => oc.columns(['user_id', 'other_id']).doUpdateSet({ type, created_at: toDate(now) }))
      .execute();
    return toRecord(row);
  }
}
