/**
 * People (issue 4): public profiles, nickname prefix search, relationships and group DMs.
 *
 * - users.display_name / bio / avatar_url: the public profile (email stays private).
 * - users_nickname_prefix_idx: lower(nickname) under the "C" collation. Prefix search runs
 *   `lower(nickname) collate "C" like 'pre%' order by lower(nickname) collate "C" limit n`, which
 *   this btree answers as an index range scan already in order, so it stops after n rows however
 *   many users there are (a default-collation index cannot serve LIKE prefixes unless the database
 *   collation is C; text_pattern_ops could, but could not also serve the ORDER BY).
 * - relationships: one row per (user, other) from the user's point of view — type 1 friend
 *   (a row on each side), 2 blocked (only on the blocker's side), 3 incoming and 4 outgoing
 *   request (one row each side). Changes to a pair run in one transaction under an advisory lock
 *   on the pair, so concurrent requests between two users cannot leave half a relationship.
 * - dms.type (1 direct, 3 group), name and owner_id for group DMs; dm_participants.joined_at
 *   orders participants and picks the next owner when the owner leaves.
 */
import { sql, type Kysely } from 'kysely';

const UP: readonly string[] = [
  `alter table users add column display_name text`,
  `alter table users add column bio text`,
  `alter table users add column avatar_url text`,
  `create index users_nickname_prefix_idx on users ((lower(nickname) collate "C"))`,

  `create table relationships (
    user_id int8 not null constraint relationships_user_fkey references users (id) on delete cascade,
    other_id int8 not null constraint relationships_other_fkey references users (id) on delete cascade,
    type smallint not null constraint relationships_type_check check (type in (1, 2, 3, 4)),
    created_at timestamptz not null,
    constraint relationships_pkey primary key (user_id, other_id),
    constraint relationships_not_self_check check (user_id <> other_id)
  )`,
  `create index relationships_other_idx on relationships (other_id)`,

  `alter table dms add column type smallint not null default 1`,
  `alter table dms add column name text`,
  `alter table dms add column owner_id int8`,
  `alter table dm_participants add column joined_at timestamptz not null default now()`,
];

const DOWN: readonly string[] = [
  'alter table dm_participants drop column if exists joined_at',
  'alter table dms drop column if exists owner_id',
  'alter table dms drop column if exists name',
  'alter table dms drop column if exists type',
  'drop table if exists relationships',
  'drop index if exists users_nickname_prefix_idx',
  'alter table users drop column if exists avatar_url',
  'alter table users drop column if exists bio',
  'alter table users drop column if exists display_name',
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
