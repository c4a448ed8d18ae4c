/**
 * ProfileStore over Kysely (Postgres or PGlite): public profiles and nickname search. Never reads
 * email or password columns, so nothing it returns can leak them.
 */
import { sql, type Kysely } from 'kysely';
import type { ProfilePatch, ProfileStore } from '../ports.ts';
import { toStorageError } from '../pg-errors.ts';
import type { ProfileRecord } from '../records.ts';
import { toMillis, type DB } from '../schema.ts';

const CONFLICTS = { users_nickname_lower_key: 'nickname' } as const;
const IDS_PER_QUERY = 1000;
const COLUMNS = ['id', 'nickname', 'display_name', 'bio', 'avatar_url', 'created_at'] as const;

type Row = { id: string; nickname: string; display_name: string | null; bio: string | null; avatar_url: string | null; created_at: Date };

function toRecord(r: Row): ProfileRecord {
  return { id: r.id, nickname: r.nickname, displayName: r.display_name, bio: r.bio, avatarUrl: r.avatar_url, createdAt: toMillis(r.created_at) };
}

/** `s` with LIKE's wildcards and escape character escaped (backslash is the escape). */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The lowercased nickname under the "C" collation: the expression users_nickname_prefix_idx indexes. */
const NICK_C = sql<string>`lower(nickname) collate "C"`;

/**
 * The prefix search query, shared with the EXPLAIN test so that the plan checked is the plan run:
 * an index range scan on users_nickname_prefix_idx, in index order, stopping after `limit` rows.
 */
export function nicknamePrefixQuery(db: Kysely<DB>, prefix: string, limit: number) {
  const pattern = `${escapeLike(prefix.toLowerCase())}%`;
  return db
    .selectFrom('users')
    .select(COLUMNS)
    .where(sql<boolean>`${NICK_C} like ${pattern} escape '\\'`)
    .orderBy(NICK_C)
    .limit(limit);
}

export class KyselyProfileStore implements ProfileStore {
  constructor(private readonly db: Kysely<DB>) {}

  async get(userId: string): Promise<ProfileRecord | null> {
    try {
      const row = await this.db.selectFrom('users').select(COLUMNS).where('id', '=', userId).executeTakeFirst();
      return row ? toRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async getMany(userIds: readonly string[]): Promise<ProfileRecord[]> {
    const unique = [...new Set(userIds)];
    const out: ProfileRecord[] = [];
    try {
      for (let i = 0; i < unique.length; i += IDS_PER_QUERY) {
        const rows = await this.db.selectFrom('users').select(COLUMNS).where('id', 'in', unique.slice(i, i + IDS_PER_QUERY)).execute();
        for (const r of rows) out.push(toRecord(r));
      }
      return out;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Uses users_nickname_lower_key (the unique index on lower(nickname)). */
  async findByNickname(nickname: string): Promise<ProfileRecord | null> {
    try {
      const row = await this.db
        .selectFrom('users')
        .select(COLUMNS)
        .where((eb) => eb(eb.fn('lower', ['nickname']), '=', nickname.toLowerCase()))
        .executeTakeFirst();
      return row ? toRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async update(userId: string, patch: ProfilePatch): Promise<ProfileRecord | null> {
    const set: { nickname?: string; display_name?: string | null; bio?: string | null; avatar_url?: string | null } = {};
    if (patch.nickname !== undefined) set.nickname = patch.nickname;
    if (patch.displayName !== undefined) set.display_name = patch.displayName;
    if (patch.bio !== undefined) set.bio = patch.bio;
    if (patch.avatarUrl !== undefined) set.avatar_url = patch.avatarUrl;
    if (Object.keys(set).length === 0) return this.get(userId);
    try {
      const row = await this.db.updateTable('users').set(set).where('id', '=', userId).returning(COLUMNS).executeTakeFirst();
      return row ? toRecord(row) : null;
    } catch (err) {
      throw toStorageError(err, CONFLICTS);
    }
  }

  async searchByNicknamePrefix(prefix: string, limit: number): Promise<ProfileRecord[]> {
    try {
      return (await nicknamePrefixQuery(this.db, prefix, limit).execute()).map(toRecord);
    } catch (err) {
      throw toStorageError(err);
    }
  }
}
