/** UserStore over Kysely (Postgres or PGlite). Email and nickname are unique case-insensitively. */
import type { Kysely, Selectable } from 'kysely';
import type { UserStore } from '../ports.ts';
import { toStorageError } from '../pg-errors.ts';
import type { UserRecord } from '../records.ts';
import { toDate, toMillis, type DB, type UsersTable } from '../schema.ts';

/** Unique constraints (see migrations) → ConflictError field. */
const CONFLICTS = {
  users_email_lower_key: 'email',
  users_nickname_lower_key: 'nickname',
  users_pkey: 'id',
} as const;

/** Keeps `IN (…)` lists well under the 65535 bind-parameter limit. */
const IDS_PER_QUERY = 1000;

function toRecord(row: Selectable<UsersTable>): UserRecord {
  return {
    id: row.id,
    email: row.email,
    nickname: row.nickname,
    passwordHash: row.password_hash,
    createdAt: toMillis(row.created_at),
  };
}

export class KyselyUserStore implements UserStore {
  constructor(private readonly db: Kysely<DB>) {}

  async create(user: Omit<UserRecord, 'createdAt'> & { createdAt?: number }): Promise<UserRecord> {
    try {
      const row = await this.db
        .insertInto('users')
        .values({
          id: user.id,
          email: user.email,
          nickname: user.nickname,
          password_hash: user.passwordHash,
          created_at: toDate(user.createdAt ?? Date.now()),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRecord(row);
    } catch (err) {
      throw toStorageError(err, CONFLICTS);
    }
  }

  async findByEmail(email: string): Promise<UserRecord | null> {
    try {
      const row = await this.db
        .selectFrom('users')
        .selectAll()
        .where((eb) => eb(eb.fn('lower', ['email']), '=', eb.fn('lower', [eb.val(email)])))
        .executeTakeFirst();
      return row ? toRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async findById(id: string): Promise<UserRecord | null> {
    try {
      const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async findManyByIds(ids: readonly string[]): Promise<UserRecord[]> {
    const unique = [...new Set(ids)];
    const out: UserRecord[] = [];
    try {
      for (let i = 0; i < unique.length; i += IDS_PER_QUERY) {
        const rows = await this.db
          .selectFrom('users')
          .selectAll()
          .where('id', 'in', unique.slice(i, i + IDS_PER_QUERY))
          .execute();
        for (const row of rows) out.push(toRecord(row));
      }
      return out;
    } catch (err) {
      throw toStorageError(err);
    }
  }
}
