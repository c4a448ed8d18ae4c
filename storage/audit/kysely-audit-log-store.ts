/** AuditLogStore over Kysely (Postgres or PGlite): the guild audit log. */
import type { Kysely, Selectable } from 'kysely';
import type { AuditLogStore, AuditQuery } from '../ports.ts';
import { toStorageError } from '../pg-errors.ts';
import type { AuditEntryRecord } from '../records.ts';
import { jsonb, toDate, toMillis, type AuditLogTable, type DB } from '../schema.ts';

/** Rows per INSERT statement: 8 parameters each keeps a statement far below the 65535 limit. */
export const AUDIT_INSERT_CHUNK_ROWS = 1000;

const CONFLICTS = { audit_log_pkey: 'audit' } as const;

function toRow(e: AuditEntryRecord) {
  return {
    id: e.id,
    guild_id: e.guildId,
    actor_id: e.actorId,
    action: e.action,
    target_id: e.targetId,
    changes: jsonb(e.changes),
    reason: e.reason,
    created_at: toDate(e.createdAt),
  };
}

function toRecord(row: Selectable<AuditLogTable>): AuditEntryRecord {
  return {
    id: row.id,
    guildId: row.guild_id,
    actorId: row.actor_id,
    action: row.action,
    targetId: row.target_id,
    changes: row.changes,
    reason: row.reason,
    createdAt: toMillis(row.created_at),
  };
}

export class KyselyAuditLogStore implements AuditLogStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * One multi-row INSERT (all-or-nothing); only a batch above AUDIT_INSERT_CHUNK_ROWS is split
   * into several statements, in one transaction. A duplicate id fails with ConflictError('audit').
   */
  async insertMany(entries: readonly AuditEntryRecord[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      if (entries.length <= AUDIT_INSERT_CHUNK_ROWS) {
        await this.db.insertInto('audit_log').values(entries.map(toRow)).execute();
        return;
      }
      await this.db.transaction().execute(async (trx) => {
        for (let i = 0; i < entries.length; i += AUDIT_INSERT_CHUNK_ROWS) {
          await trx.insertInto('audit_log').values(entries.slice(i, i + AUDIT_INSERT_CHUNK_ROWS).map(toRow)).execute();
        }
      });
    } catch (err) {
      throw toStorageError(err, CONFLICTS);
    }
  }

  /**
   * Newest first; `limit` is clamped to 1..100. With `after`, the page is the `limit` entries
   * closest above `after` (so paging forward with `after` = the newest id seen skips nothing),
   * still returned newest first; otherwise the newest entries (below `before` if given).
   */
  async query(guildId: string, query: AuditQuery): Promise<AuditEntryRecord[]> {
    const limit = Math.min(100, Math.max(1, Math.trunc(query.limit) || 1));
    try {
      let q = this.db.selectFrom('audit_log').selectAll().where('guild_id', '=', guildId);
      if (query.userId !== null) q = q.where('actor_id', '=', query.userId);
      if (query.action !== null) q = q.where('action', '=', query.action);
      if (query.before !== null) q = q.where('id', '<', query.before);
      if (query.after !== null) q = q.where('id', '>', query.after);
      if (query.after !== null) {
        const rows = await q.orderBy('id', 'asc').limit(limit).execute();
        return rows.reverse().map(toRecord);
      }
      const rows = await q.orderBy('id', 'desc').limit(limit).execute();
      return rows.map(toRecord);
    } catch (err) {
      throw toStorageError(err);
    }
  }
}
