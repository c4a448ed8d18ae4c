/**
 * Kysely table types for the Guildhall schema (see migrations/ for the DDL).
 *
 * Column conventions, identical on Postgres (pg) and PGlite (our dialect configures its parsers):
 * - int8 columns read back as decimal strings and are written as decimal strings, so snowflakes
 *   keep all 64 bits;
 * - timestamptz columns read back as `Date` and are written as `Date`; stores convert to and from
 *   the epoch milliseconds used by records.ts with `toDate` / `toMillis`.
 */
import { sql, type ColumnType, type Generated, type RawBuilder } from 'kysely';
import type { MessageMentions } from './records.ts';

/** An int8 column: a decimal string both ways. */
export type Int8 = string;
/** A timestamptz column: written as a Date, read back as a Date. */
export type Timestamp = ColumnType<Date, Date, Date>;

declare const JSONB_PARAM: unique symbol;
/**
 * The write type of a jsonb column. Never constructed: only `jsonb(value)` produces it, so a value
 * cannot reach a jsonb column without the serialisation that works on both drivers (pg would
 * turn a JS array into a Postgres array literal).
 */
export interface JsonbParam<T> {
  readonly [JSONB_PARAM]: T;
}
/** A jsonb column: written with `jsonb(value)`, read back as the parsed value on both dialects. */
export type Jsonb<T> = ColumnType<T, JsonbParam<T>, JsonbParam<T>>;
/** A nullable jsonb column: written with `jsonb(value)` or null. */
export type NullableJsonb<T> = ColumnType<T | null, JsonbParam<T> | null, JsonbParam<T> | null>;

/**
 * `value` as a jsonb expression: JSON text bound as a text parameter and cast on the server, so
 * neither pg nor PGlite serialises it by its own rules.
 */
export function jsonb<T>(value: T): RawBuilder<JsonbParam<T>> {
  return sql<JsonbParam<T>>`cast(cast(${JSON.stringify(value)} as text) as jsonb)`;
}

export interface UsersTable {
  id: Int8;
  email: string;
  nickname: string;
  password_hash: string;
  created_at: Timestamp;
  /** Null until the address was confirmed (migration 0003). */
  email_confirmed_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Public profile (migration 0005). */
  display_name: ColumnType<string | null, string | null | undefined, string | null>;
  bio: ColumnType<string | null, string | null | undefined, string | null>;
  avatar_url: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Migration 0005: one row per (user, other) from the user's side; type 1 friend, 2 blocked, 3 incoming, 4 outgoing. */
export interface RelationshipsTable {
  user_id: Int8;
  other_id: Int8;
  type: number;
  created_at: Timestamp;
}

/** One login (migration 0003). Refresh tokens are stored only as SHA-256 hashes. */
export interface SessionsTable {
  id: Int8;
  user_id: Int8;
  refresh_hash: string;
  previous_refresh_hash: string | null;
  rotated_at: ColumnType<Date | null, Date | null, Date | null>;
  rotation_key: string;
  client: string | null;
  ip: string | null;
  created_at: Timestamp;
  last_active_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  revoked_reason: string | null;
}

/** Hashes of refresh tokens rotated out more than one generation ago (reuse detection). */
export interface SpentRefreshTokensTable {
  token_hash: string;
  session_id: Int8;
  spent_at: Timestamp;
}

/** Single-use email-confirmation and password-reset tokens, stored as SHA-256 hashes. */
export interface AccountTokensTable {
  token_hash: string;
  user_id: Int8;
  purpose: 'confirm_email' | 'reset_password';
  email: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface GuildsTable {
  id: Int8;
  name: string;
  owner_id: Int8;
  description: string | null;
  icon_url: string | null;
  system_channel_id: Int8 | null;
  created_at: Timestamp;
}

export interface RolesTable {
  id: Int8;
  guild_id: Int8;
  name: string;
  color: number;
  /** Permission bitfield, decimal string. */
  permissions: Int8;
  position: number;
  mentionable: boolean;
  hoist: boolean;
  created_at: Timestamp;
}

export interface MemberRolesTable {
  guild_id: Int8;
  user_id: Int8;
  role_id: Int8;
}

export interface ChannelOverwritesTable {
  channel_id: Int8;
  target_id: Int8;
  /** 0 role, 1 member. */
  target_type: number;
  allow: Int8;
  deny: Int8;
}

export interface BansTable {
  guild_id: Int8;
  user_id: Int8;
  moderator_id: Int8;
  reason: string | null;
  created_at: Timestamp;
}

export interface AuditLogTable {
  id: Int8;
  guild_id: Int8;
  actor_id: Int8;
  action: number;
  target_id: Int8 | null;
  changes: Jsonb<{ key: string; old?: unknown; new?: unknown }[]>;
  reason: string | null;
  created_at: Timestamp;
}

export interface ChannelsTable {
  id: Int8;
  guild_id: Int8;
  type: number;
  name: string;
  topic: string | null;
  parent_id: Int8 | null;
  position: number;
  created_at: Timestamp;
}

export interface MembersTable {
  guild_id: Int8;
  user_id: Int8;
  joined_at: Timestamp;
  nickname: string | null;
  timeout_until: ColumnType<Date | null, Date | null, Date | null>;
}

export interface InvitesTable {
  code: string;
  guild_id: Int8;
  channel_id: Int8 | null;
  inviter_id: Int8;
  max_uses: number | null;
  uses: Generated<number>;
  expires_at: ColumnType<Date | null, Date | null, Date | null>;
  created_at: Timestamp;
}

export interface MessagesTable {
  id: Int8;
  type: number;
  mentions: NullableJsonb<MessageMentions>;
  channel_id: Int8;
  guild_id: Int8 | null;
  author_id: Int8;
  content: string;
  nonce: string | null;
  created_at: Timestamp;
  /** Migration 0006. */
  edited_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  reply_to_id: ColumnType<Int8 | null, Int8 | null | undefined, Int8 | null>;
  pinned_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

/** Migration 0006. */
export interface ReactionsTable {
  message_id: Int8;
  channel_id: Int8;
  user_id: Int8;
  emoji: string;
  created_at: Timestamp;
}

/** Migration 0006. */
export interface ReadStatesTable {
  user_id: Int8;
  channel_id: Int8;
  last_read_id: Int8;
  mention_count: number;
  updated_at: Timestamp;
}

/** Migration 0006. target_type: 0 channel, 1 guild, 2 DM. */
export interface MutesTable {
  user_id: Int8;
  target_id: Int8;
  target_type: number;
  until: ColumnType<Date | null, Date | null, Date | null>;
}

export interface DmsTable {
  id: Int8;
  created_at: Timestamp;
  last_message_id: Int8 | null;
  /** Migration 0005: 1 direct, 3 group; name and owner for group DMs. */
  type: ColumnType<number, number | undefined, number>;
  name: ColumnType<string | null, string | null | undefined, string | null>;
  owner_id: ColumnType<Int8 | null, Int8 | null | undefined, Int8 | null>;
}

export interface DmParticipantsTable {
  dm_id: Int8;
  user_id: Int8;
  /** Migration 0005. */
  joined_at: ColumnType<Date, Date | undefined, Date>;
}

export interface DmPairsTable {
  user_low: Int8;
  user_high: Int8;
  dm_id: Int8;
}

export interface DB {
  users: UsersTable;
  sessions: SessionsTable;
  spent_refresh_tokens: SpentRefreshTokensTable;
  account_tokens: AccountTokensTable;
  guilds: GuildsTable;
  channels: ChannelsTable;
  members: MembersTable;
  invites: InvitesTable;
  messages: MessagesTable;
  reactions: ReactionsTable;
  read_states: ReadStatesTable;
  mutes: MutesTable;
  dms: DmsTable;
  dm_participants: DmParticipantsTable;
  dm_pairs: DmPairsTable;
  relationships: RelationshipsTable;
  roles: RolesTable;
  member_roles: MemberRolesTable;
  channel_overwrites: ChannelOverwritesTable;
  bans: BansTable;
  audit_log: AuditLogTable;
}

/** Epoch milliseconds to the value written into a timestamptz column. */
export function toDate(ms: number): Date {
  return new Date(ms);
}

/**
 * A timestamptz value as read back (a Date on both dialects) to epoch milliseconds. Also accepts
 * strings and numbers so that a globally reconfigured pg type parser cannot corrupt records.
 */
export function toMillis(value: Date | string | number): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number') return value;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new TypeError(`not a timestamp: ${value}`);
  return ms;
}
