/**
 * AccountStore over Kysely: the authentication columns of `users` (password hash, email
 * confirmation) and the single-use account tokens. Emails compare case-insensitively, as the
 * users_email_lower_key index does.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { toStorageError } from '../pg-errors.ts';
import { toDate, toMillis, type DB } from '../schema.ts';
import type { AccountRecord, AccountStore, AccountTokenPurpose, AccountTokenRecord } from './ports.ts';

interface UserRow {
  id: string;
  email: string;
  nickname: string;
  password_hash: string;
  email_confirmed_at: Date | null;
  created_at: Date;
}

function toRecord(row: UserRow): AccountRecord {
  return {
    id: row.id,
    email: row.email,
    nickname: row.nickname,
    passwordHash: row.password_hash,
    emailConfirmedAt: row.email_confirmed_at === null ? null : toMillis(row.email_confirmed_at),
    createdAt: toMillis(row.created_at),
  };
}

const USER_COLUMNS = ['id', 'email', 'nickname', 'password_hash', 'email_confirmed_at', 'created_at'] as const;

export class KyselyAccountStore implements AccountStore {
  constructor(private readonly db: Kysely<DB>) {}

  async findByEmail(email: string): Promise<AccountRecord | null> {
    try {
      const row = await this.db
        .selectFrom('users')
        .select(USER_COLUMNS)
        .where((eb) => eb(eb.fn('lower', ['email']), '=', eb.fn('lower', [eb.val(email)])))
        .executeTakeFirst();
      return row ? toRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async findById(id: string): Promise<AccountRecord | null> {
    try {
      const row = await this.db.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst();
      return row ? toRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    try {
      await this.db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async issueToken(t: AccountTokenRecord): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        await spendAll(trx, t.userId, t.purpose, t.createdAt);
        await trx.insertInto('account_tokens').values({
          token_hash: t.hash,
          user_id: t.userId,
          purpose: t.purpose,
          email: t.email,
          created_at: toDate(t.createdAt),
          expires_at: toDate(t.expiresAt),
          used_at: null,
        }).execute();
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async isTokenUsable(hash: string, purpose: AccountTokenPurpose, now: number): Promise<boolean> {
    try {
      const row = await this.db
        .selectFrom('account_tokens')
        .select('token_hash')
        .where('token_hash', '=', hash)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', toDate(now))
        .executeTakeFirst();
      return row !== undefined;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async spendTokens(userId: string, purpose: AccountTokenPurpose, now: number): Promise<void> {
    try {
      await this.db.transaction().execute((trx) => spendAll(trx, userId, purpose, now));
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async confirmEmailWithToken(hash: string, now: number): Promise<string | null> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const token = await spend(trx, hash, 'confirm_email', now);
        if (!token) return null;
        const row = await trx
          .updateTable('users')
          .set({ email_confirmed_at: sql<Date>`coalesce(email_confirmed_at, ${toDate(now)})` })
          .where('id', '=', token.user_id)
          .where((eb) => eb(eb.fn('lower', ['email']), '=', eb.fn('lower', [eb.val(token.email)])))
          .returning('id')
          .executeTakeFirst();
        return row?.id ?? null;
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async resetPasswordWithToken(hash: string, now: number, passwordHash: string): Promise<string | null> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const token = await spend(trx, hash, 'reset_password', now);
        if (!token) return null;
        const row = await trx
          .updateTable('users')
          .set({ password_hash: passwordHash, email_confirmed_at: sql<Date>`coalesce(email_confirmed_at, ${toDate(now)})` })
          .where('id', '=', token.user_id)
          .where((eb) => eb(eb.fn('lower', ['email']), '=', eb.fn('lower', [eb.val(token.email)])))
          .returning('id')
          .executeTakeFirst();
        if (!row) return null;
        await spendAll(trx, token.user_id, 'reset_password', now);
        return row.id;
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async purgeTokens(before: number): Promise<number> {
    try {
      const res = await this.db.deleteFrom('account_tokens').where('expires_at', '<', toDate(before)).executeTakeFirst();
      return Number(res.numDeletedRows);
    } catch (err) {
      throw toStorageError(err);
    }
  }
}

/** Marks one usable token used; resolves its user and address, or undefined. Atomic by itself. */
async function spend(trx: Transaction<DB>, hash: string, purpose: AccountTokenPurpose, now: number) {
  return trx
    .updateTable('account_tokens')
    .set({ used_at: toDate(now) })
    .where('token_hash', '=', hash)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', toDate(now))
    .returning(['user_id', 'email'])
    .executeTakeFirst();
}

async function spendAll(trx: Transaction<DB>, userId: string, purpose: AccountTokenPurpose, now: number): Promise<void> {
  await trx
    .updateTable('account_tokens')
    .set({ used_at: toDate(now) })
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .execute();
}
