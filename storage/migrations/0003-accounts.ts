/**
 * Accounts and sessions (issue 5): email confirmation, sessions with rotating refresh tokens, and
 * single-use account tokens. Postgres is the source of truth for every session and token; the
 * ephemeral store (Redis) only caches session liveness and may be lost at any time.
 *
 * - users.email_confirmed_at: null until the address was confirmed (existing accounts start
 *   unconfirmed; they can ask for a new link with /auth/confirm/resend).
 * - sessions: one row per login. `refresh_hash` is the SHA-256 of the current refresh token;
 *   `previous_refresh_hash` + `rotated_at` remember the token it replaced, for the short grace in
 *   which a concurrent refresh of that same token still succeeds. `rotation_key` derives each next
 *   token from the presented one (HMAC), so both concurrent refreshes get the same new token.
 *   A revoked session keeps its row (revoked_at set) until the janitor purges it.
 * - spent_refresh_tokens: hashes of tokens rotated out more than one generation ago; presenting
 *   one is refresh-token reuse and revokes the session.
 * - account_tokens: email-confirmation and password-reset tokens, stored as SHA-256 hashes,
 *   single-use (used_at) and expiring (expires_at).
 */
import { sql, type Kysely } from 'kysely';

const UP: readonly string[] = [
  `alter table users add column email_confirmed_at timestamptz`,

  `create table sessions (
    id int8 primary key,
    user_id int8 not null constraint sessions_user_fkey references users (id) on delete cascade,
    refresh_hash text not null,
    previous_refresh_hash text,
    rotated_at timestamptz,
    rotation_key text not null,
    client text,
    ip text,
    created_at timestamptz not null,
    last_active_at timestamptz not null,
    expires_at timestamptz not null,
    revoked_at timestamptz,
    revoked_reason text
  )`,
  `create unique index sessions_refresh_hash_key on sessions (refresh_hash)`,
  `create index sessions_previous_refresh_hash_idx on sessions (previous_refresh_hash) where previous_refresh_hash is not null`,
  `create index sessions_user_idx on sessions (user_id, created_at)`,

  `create table spent_refresh_tokens (
    token_hash text primary key,
    session_id int8 not null constraint spent_refresh_tokens_session_fkey references sessions (id) on delete cascade,
    spent_at timestamptz not null
  )`,
  `create index spent_refresh_tokens_session_idx on spent_refresh_tokens (session_id)`,

  `create table account_tokens (
    token_hash text primary key,
    user_id int8 not null constraint account_tokens_user_fkey references users (id) on delete cascade,
    purpose text not null constraint account_tokens_purpose_check check (purpose in ('confirm_email', 'reset_password')),
    email text not null,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    used_at timestamptz
  )`,
  `create index account_tokens_user_idx on account_tokens (user_id, purpose)`,
];

const DOWN: readonly string[] = [
  'drop table if exists account_tokens',
  'drop table if exists spent_refresh_tokens',
  'drop table if exists sessions',
  'alter table users drop column if exists email_confirmed_at',
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
