/**
 * Message features: edits, replies, pins, reactions, nonce de-duplication, read states and mutes.
 *
 * Nonces: a (channel, author, nonce) triple is unique, so a client that resends a message after a
 * lost ack (or a server crash before the ack) gets the original back instead of a second copy. The
 * group-commit INSERT uses ON CONFLICT DO NOTHING on this index and reports which rows it wrote.
 */
import { sql, type Kysely } from 'kysely';

/** Statements run one by one: PGlite's extended protocol accepts a single statement per query. */
const UP: readonly string[] = [
  `alter table messages add column edited_at timestamptz`,
  `alter table messages add column reply_to_id int8`,
  `alter table messages add column pinned_at timestamptz`,
  `create unique index if not exists messages_nonce_key on messages (channel_id, author_id, nonce) where nonce is not null`,
  `create index messages_pinned_idx on messages (channel_id, pinned_at desc) where pinned_at is not null`,

  // No foreign keys, like messages (hot path; channel_id is polymorphic).
  `create table reactions (
    message_id int8 not null,
    channel_id int8 not null,
    user_id int8 not null,
    emoji text not null,
    created_at timestamptz not null default now(),
    constraint reactions_pkey primary key (message_id, emoji, user_id)
  )`,
  `create index reactions_channel_idx on reactions (channel_id)`,

  `create table read_states (
    user_id int8 not null,
    channel_id int8 not null,
    last_read_id int8 not null default 0,
    mention_count int4 not null default 0,
    updated_at timestamptz not null default now(),
    constraint read_states_pkey primary key (user_id, channel_id)
  )`,

  `create table mutes (
    user_id int8 not null,
    target_id int8 not null,
    target_type smallint not null constraint mutes_target_type_check check (target_type in (0, 1, 2)),
    until timestamptz,
    constraint mutes_pkey primary key (user_id, target_id)
  )`,
];

const DOWN: readonly string[] = [
  `drop table mutes`,
  `drop table read_states`,
  `drop table reactions`,
  `drop index messages_pinned_idx`,
  `drop index if exists messages_nonce_key`,
  `alter table messages drop column pinned_at`,
  `alter table messages drop column reply_to_id`,
  `alter table messages drop column edited_at`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
