/** SessionStore over Kysely (Postgres or PGlite). See migrations/0003-accounts.ts for the tables. */
import type { Kysely, Selectable } from 'kysely';
import { toStorageError } from '../pg-errors.ts';
import { toDate, toMillis, type DB, type SessionsTable } from '../schema.ts';
import type { NewSession, RefreshTokenMatch, RevokeFilter, SessionRecord, SessionStore } from './ports.ts';

const IDS_PER_QUERY = 1000;

const orNull = (d: Date | string | number | null): number | null => (d === null ? null : toMillis(d));

function toRecord(row: Selectable<SessionsTable>): SessionRecord {
  return {
    id: row.id,
    userId: row.user_id,
    client: row.client,
    ip: row.ip,
    createdAt: toMillis(row.created_at),
    lastActiveAt: toMillis(row.last_active_at),
    expiresAt: toMillis(row.expires_at),
    revokedAt: orNull(row.revoked_at),
    revokedReason: row.revoked_reason,
    refreshHash: row.refresh_hash,
    previousRefreshHash: row.previous_refresh_hash,
    rotatedAt: orNull(row.rotated_at),
    rotationKey: row.rotation_key,
  };
}

export class KyselySessionStore implements SessionStore {
  constructor(private readonly db: Kysely<DB>) {}

  async create(s: NewSession): Promise<void> {
    try {
      await this.db.insertInto('sessions').values({
        id: s.id,
        user_id: s.userId,
        refresh_hash: s.refreshHash,
        previous_refresh_hash: null,
        rotated_at: null,
        rotation_key: s.rotationKey,
        client: s.client,
        ip: s.ip,
        created_at: toDate(s.createdAt),
        last_active_at: toDate(s.lastActiveAt),
        expires_at: toDate(s.expiresAt),
        revoked_reason: null,
      }).execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async findById(id: string): Promise<SessionRecord | null> {
    try {
      const row = await this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async findByRefreshHash(hash: string): Promise<{ session: SessionRecord; match: RefreshTokenMatch } | null> {
    try {
      const row = await this.db
        .selectFrom('sessions')
        .selectAll()
        .where((eb) => eb.or([eb('refresh_hash', '=', hash), eb('previous_refresh_hash', '=', hash)]))
        .executeTakeFirst();
      if (row) return { session: toRecord(row), match: row.refresh_hash === hash ? 'current' : 'previous' };
      const spent = await this.db
        .selectFrom('spent_refresh_tokens as t')
        .innerJoin('sessions as s', 's.id', 't.session_id')
        .selectAll('s')
        .where('t.token_hash', '=', hash)
        .executeTakeFirst();
      return spent ? { session: toRecord(spent), match: 'spent' } : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async rotate(id: string, currentHash: string, nextHash: string, now: number, expiresAt: number): Promise<boolean> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        // The row lock serialises concurrent rotations: a waiter re-reads the row after the winner
        // commits, no longer finds currentHash, and gets false.
        const row = await trx
          .selectFrom('sessions')
          .select(['previous_refresh_hash'])
          .where('id', '=', id)
          .where('refresh_hash', '=', currentHash)
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', toDate(now))
          .forUpdate()
          .executeTakeFirst();
        if (!row) return false;
        if (row.previous_refresh_hash !== null) {
          await trx
            .insertInto('spent_refresh_tokens')
            .values({ token_hash: row.previous_refresh_hash, session_id: id, spent_at: toDate(now) })
            .onConflict((oc) => oc.column('token_hash').doNothing())
            .execute();
        }
        await trx
          .updateTable('sessions')
          .set({
            refresh_hash: nextHash,
            previous_refresh_hash: currentHash,
            rotated_at: toDate(now),
            last_active_at: toDate(now),
            expires_at: toDate(expiresAt),
          })
          .where('id', '=', id)
          .execute();
        return true;
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async touch(id: string, now: number, minIntervalMs: number): Promise<void> {
    try {
      await this.db
        .updateTable('sessions')
        .set({ last_active_at: toDate(now) })
        .where('id', '=', id)
        .where('last_active_at', '<', toDate(now - minIntervalMs))
        .where('revoked_at', 'is', null)
        .execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async listLive(userId: string, now: number): Promise<SessionRecord[]> {
    try {
      const rows = await this.db
        .selectFrom('sessions')
        .selectAll()
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', toDate(now))
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .execute();
      return rows.map(toRecord);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async liveIds(ids: readonly string[], now: number): Promise<string[]> {
    const unique = [...new Set(ids)];
    const out: string[] = [];
    try {
      for (let i = 0; i < unique.length; i += IDS_PER_QUERY) {
        const rows = await this.db
          .selectFrom('sessions')
          .select('id')
          .where('id', 'in', unique.slice(i, i + IDS_PER_QUERY))
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', toDate(now))
          .execute();
        for (const r of rows) out.push(r.id);
      }
      return out;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async revoke(filter: RevokeFilter, now: number, reason: string): Promise<string[]> {
    try {
      let q = this.db
        .updateTable('sessions')
        .set({ revoked_at: toDate(now), revoked_reason: reason })
        .where('user_id', '=', filter.userId)
        .where('revoked_at', 'is', null);
      if (filter.sessionId !== undefined) q = q.where('id', '=', filter.sessionId);
      if (filter.exceptSessionId !== undefined) q = q.where('id', '<>', filter.exceptSessionId);
      const rows = await q.returning('id').execute();
      return rows.map((r) => r.id);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async purge(before: number, spentBefore: number): Promise<number> {
    try {
      await this.db.deleteFrom('spent_refresh_tokens').where('spent_at', '<', toDate(spentBefore)).execute();
      const res = await this.db
        .deleteFrom('sessions')
        .where((eb) => eb.or([eb('expires_at', '<', toDate(before)), eb('revoked_at', '<', toDate(before))]))
        .executeTakeFirst();
      return Number(res.numDeletedRows);
    } catch (err) {
      throw toStorageError(err);
    }
  }
}
