/**
 * Guild permissions, moderation and the audit log: roles and member roles, channel permission
 * overwrites, bans, the audit log, guild profile fields, member nickname/timeout, and message type
 * and mentions. Constraint and index names are explicit (see 0001).
 *
 * Bitfields (roles.permissions, overwrites allow/deny) are int8, i.e. signed 64-bit: every bit
 * below 2^63 fits; the stores read and write them as decimal strings.
 *
 * guilds.system_channel_id → channels and channels.guild_id → guilds form a cycle. Deleting a
 * guild cascades to its channels, whose deletion sets the (already deleted) guild row's
 * system_channel_id to null, which is a no-op; GuildStore.create inserts the guild with a null
 * system channel and sets it once the channels exist.
 */
import { sql, type Kysely } from 'kysely';

/** Statements run one by one: PGlite's extended protocol accepts a single statement per query. */
const UP: readonly string[] = [
  `alter table guilds add column description text`,
  `alter table guilds add column icon_url text`,
  `alter table guilds add column system_channel_id int8
    constraint guilds_system_channel_fkey references channels (id) on delete set null`,

  `create table roles (
    id int8 primary key,
    guild_id int8 not null constraint roles_guild_fkey references guilds (id) on delete cascade,
    name text not null,
    color int4 not null default 0,
    permissions int8 not null default 0,
    position int4 not null default 0,
    mentionable bool not null default false,
    hoist bool not null default false,
    created_at timestamptz not null default now(),
    constraint roles_guild_id_key unique (guild_id, id)
  )`,
  `create index roles_guild_idx on roles (guild_id)`,

  `alter table members add column nickname text`,
  `alter table members add column timeout_until timestamptz`,

  // The role FK is composite so that a member can only hold roles of the guild they belong to.
  `create table member_roles (
    guild_id int8 not null,
    user_id int8 not null,
    role_id int8 not null,
    constraint member_roles_pkey primary key (guild_id, user_id, role_id),
    constraint member_roles_role_fkey foreign key (guild_id, role_id)
      references roles (guild_id, id) on delete cascade,
    constraint member_roles_member_fkey foreign key (guild_id, user_id)
      references members (guild_id, user_id) on delete cascade
  )`,
  // Serves the cascade from roles (and deleting a role's assignments).
  `create index member_roles_role_idx on member_roles (role_id)`,

  `create table channel_overwrites (
    channel_id int8 not null constraint channel_overwrites_channel_fkey references channels (id) on delete cascade,
    target_id int8 not null,
    target_type smallint not null constraint channel_overwrites_target_type_check check (target_type in (0, 1)),
    allow int8 not null default 0,
    deny int8 not null default 0,
    constraint channel_overwrites_pkey primary key (channel_id, target_id)
  )`,
  // Serves deleting the overwrites that target a deleted role.
  `create index channel_overwrites_target_idx on channel_overwrites (target_id)`,

  `create table bans (
    guild_id int8 not null constraint bans_guild_fkey references guilds (id) on delete cascade,
    user_id int8 not null,
    moderator_id int8 not null,
    reason text,
    created_at timestamptz not null default now(),
    constraint bans_pkey primary key (guild_id, user_id)
  )`,

  `create table audit_log (
    id int8 primary key,
    guild_id int8 not null constraint audit_log_guild_fkey references guilds (id) on delete cascade,
    actor_id int8 not null,
    action smallint not null,
    target_id int8,
    changes jsonb not null,
    reason text,
    created_at timestamptz not null default now()
  )`,
  `create index audit_log_guild_idx on audit_log (guild_id, id desc)`,
  `create index audit_log_guild_actor_idx on audit_log (guild_id, actor_id, id desc)`,
  `create index audit_log_guild_action_idx on audit_log (guild_id, action, id desc)`,

  // A constant default: no table rewrite on Postgres 11+.
  `alter table messages add column type smallint not null default 0`,
  `alter table messages add column mentions jsonb`,
];

const DOWN: readonly string[] = [
  'alter table messages drop column if exists mentions',
  'alter table messages drop column if exists type',
  'drop table if exists audit_log',
  'drop table if exists bans',
  'drop table if exists channel_overwrites',
  'drop table if exists member_roles',
  'alter table members drop column if exists timeout_until',
  'alter table members drop column if exists nickname',
  'drop table if exists roles',
  'alter table guilds drop column if exists system_channel_id',
  'alter table guilds drop column if exists icon_url',
  'alter table guilds drop column if exists description',
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
