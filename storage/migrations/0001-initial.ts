/**
 * Initial schema. Ids are int8 snowflakes, times timestamptz. Constraint and index names are
 * explicit because the stores map unique violations to ConflictError fields by constraint name.
 *
 * Foreign keys guard the low-volume aggregates (guilds, channels, members, invites, DMs). The
 * messages table has none on purpose: it is the hot group-commit path, where every FK would add an
 * index probe and a row lock on the parent per inserted row, and `channel_id` is polymorphic (a
 * guild channel id or a DM id), which no single FK can express. The engine checks that the channel
 * exists and the author may post before a message reaches storage.
 */
import { sql, type Kysely } from 'kysely';

/** Statements run one by one: PGlite's extended protocol accepts a single statement per query. */
const UP: readonly string[] = [
  `create table users (
    id int8 primary key,
    email text not null,
    nickname text not null,
    password_hash text not null,
    created_at timestamptz not null default now()
  )`,
  `create unique index users_email_lower_key on users (lower(email))`,
  `create unique index users_nickname_lower_key on users (lower(nickname))`,

  `create table guilds (
    id int8 primary key,
    name text not null,
    owner_id int8 not null constraint guilds_owner_fkey references users (id),
    created_at timestamptz not null default now()
  )`,

  `create table channels (
    id int8 primary key,
    guild_id int8 not null constraint channels_guild_fkey references guilds (id) on delete cascade,
    type smallint not null,
    name text not null,
    topic text,
    parent_id int8 constraint channels_parent_fkey references channels (id) on delete set null,
    position int4 not null default 0,
    created_at timestamptz not null default now()
  )`,
  `create index channels_guild_position_idx on channels (guild_id, position, id)`,

  `create table members (
    guild_id int8 not null constraint members_guild_fkey references guilds (id) on delete cascade,
    user_id int8 not null constraint members_user_fkey references users (id) on delete cascade,
    joined_at timestamptz not null default now(),
    constraint members_pkey primary key (guild_id, user_id)
  )`,
  `create index members_user_idx on members (user_id, joined_at)`,

  `create table invites (
    code text primary key,
    guild_id int8 not null constraint invites_guild_fkey references guilds (id) on delete cascade,
    channel_id int8 constraint invites_channel_fkey references channels (id) on delete cascade,
    inviter_id int8 not null constraint invites_inviter_fkey references users (id) on delete cascade,
    max_uses int4,
    uses int4 not null default 0,
    expires_at timestamptz,
    created_at timestamptz not null default now(),
    constraint invites_uses_check check (uses >= 0 and (max_uses is null or uses <= max_uses))
  )`,
  `create index invites_guild_idx on invites (guild_id)`,

  // No foreign keys: see the header comment.
  `create table messages (
    id int8 primary key,
    channel_id int8 not null,
    guild_id int8,
    author_id int8 not null,
    content text not null,
    nonce text,
    created_at timestamptz not null
  )`,
  `create index messages_channel_id_idx on messages (channel_id, id desc)`,

  `create table dms (
    id int8 primary key,
    created_at timestamptz not null default now(),
    last_message_id int8
  )`,
  `create table dm_participants (
    dm_id int8 not null constraint dm_participants_dm_fkey references dms (id) on delete cascade,
    user_id int8 not null constraint dm_participants_user_fkey references users (id) on delete cascade,
    constraint dm_participants_pkey primary key (dm_id, user_id)
  )`,
  `create index dm_participants_user_idx on dm_participants (user_id)`,
  // One row per unordered pair of users; its primary key makes 1:1 DM creation atomic.
  `create table dm_pairs (
    user_low int8 not null,
    user_high int8 not null,
    dm_id int8 not null constraint dm_pairs_dm_fkey references dms (id) on delete cascade,
    constraint dm_pairs_pkey primary key (user_low, user_high),
    constraint dm_pairs_order_check check (user_low <= user_high)
  )`,
];

const DOWN: readonly string[] = [
  'drop table if exists dm_pairs',
  'drop table if exists dm_participants',
  'drop table if exists dms',
  'drop table if exists messages',
  'drop table if exists invites',
  'drop table if exists members',
  'drop table if exists channels',
  'drop table if exists guilds',
  'drop table if exists users',
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
