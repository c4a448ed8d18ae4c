/**
 * Storage ports for accounts and sessions (issue 5). Postgres (or PGlite) is the source of truth
 * for every session, refresh token and account token: what the ephemeral store holds about them is
 * a cache that may vanish at any time. Tokens are never stored, only their SHA-256 hashes.
 * Times are epoch milliseconds; every "now" comes from the caller, so tests drive a fake clock.
 */

export interface AccountRecord {
  id: string;
  email: string;
  nickname: string;
  passwordHash: string;
  /** When the email address was confirmed; null while unconfirmed. */
  emailConfirmedAt: number | null;
  createdAt: number;
}

export interface SessionRecord {
  id: string;
  userId: string;
  /** Client name (from login's `client` or the User-Agent), ≤ 128 chars. */
  client: string | null;
  ip: string | null;
  createdAt: number;
  lastActiveAt: number;
  /** Idle expiry: pushed forward by every refresh. */
  expiresAt: number;
  revokedAt: number | null;
  revokedReason: string | null;
  /** SHA-256 (base64url) of the current refresh token. */
  refreshHash: string;
  /** SHA-256 of the token the current one replaced, while its grace lasts; null before the first refresh. */
  previousRefreshHash: string | null;
  /** When the current token was issued by a refresh. */
  rotatedAt: number | null;
  /** Per-session HMAC key (base64url) from which each next refresh token is derived. */
  rotationKey: string;
}

export type NewSession = Omit<SessionRecord, 'revokedAt' | 'revokedReason' | 'previousRefreshHash' | 'rotatedAt'>;

/** Which generation of a session's refresh tokens a hash is. */
export type RefreshTokenMatch = 'current' | 'previous' | 'spent';

export interface RevokeFilter {
  userId: string;
  /** Only this session (it must belong to userId). */
  sessionId?: string;
  /** Every session of the user except this one. */
  exceptSessionId?: string;
}

export interface SessionStore {
  create(session: NewSession): Promise<void>;
  findById(id: string): Promise<SessionRecord | null>;
  /** The session holding this refresh-token hash as its current, previous or a spent token. */
  findByRefreshHash(hash: string): Promise<{ session: SessionRecord; match: RefreshTokenMatch } | null>;
  /**
   * Atomically, if the session is unrevoked, unexpired at `now` and its current hash is
   * `currentHash`: makes `nextHash` current, `currentHash` previous (rotatedAt = now), moves the
   * former previous hash to the spent tokens, and sets lastActiveAt = now and expiresAt. Resolves
   * false (changing nothing) otherwise. Of concurrent calls with the same currentHash, one wins.
   */
  rotate(id: string, currentHash: string, nextHash: string, now: number, expiresAt: number): Promise<boolean>;
  /** Sets lastActiveAt = now if it is older than now - minIntervalMs. */
  touch(id: string, now: number, minIntervalMs: number): Promise<void>;
  /** The user's unrevoked, unexpired sessions, newest first. */
  listLive(userId: string, now: number): Promise<SessionRecord[]>;
  /** Of `ids`, those that are unrevoked and unexpired at `now`. */
  liveIds(ids: readonly string[], now: number): Promise<string[]>;
  /** Revokes the matching unrevoked sessions; resolves the ids it revoked. */
  revoke(filter: RevokeFilter, now: number, reason: string): Promise<string[]>;
  /**
   * Deletes sessions expired or revoked before `before` (with their spent tokens), and spent
   * tokens older than `spentBefore`. Resolves the number of sessions deleted.
   */
  purge(before: number, spentBefore: number): Promise<number>;
}

export type AccountTokenPurpose = 'confirm_email' | 'reset_password';

export interface AccountTokenRecord {
  /** SHA-256 (base64url) of the token. */
  hash: string;
  userId: string;
  purpose: AccountTokenPurpose;
  /** The address the token was sent to. */
  email: string;
  createdAt: number;
  expiresAt: number;
}

export interface AccountStore {
  /** Case-insensitive. */
  findByEmail(email: string): Promise<AccountRecord | null>;
  findById(id: string): Promise<AccountRecord | null>;
  setPasswordHash(userId: string, passwordHash: string): Promise<void>;
  /** Stores a token and marks every earlier unused token of the same user and purpose used. */
  issueToken(token: AccountTokenRecord): Promise<void>;
  /** True if a token with this hash and purpose exists, is unused and unexpired at `now` (it stays unused). */
  isTokenUsable(hash: string, purpose: AccountTokenPurpose, now: number): Promise<boolean>;
  /** Marks every unused token of the user with this purpose used. */
  spendTokens(userId: string, purpose: AccountTokenPurpose, now: number): Promise<void>;
  /**
   * In one transaction: spends the unused, unexpired confirm_email token with this hash and
   * confirms the user's address if it still equals the token's. Resolves the user id, or null if
   * the token is unknown, spent, expired, or the address changed since.
   */
  confirmEmailWithToken(hash: string, now: number): Promise<string | null>;
  /**
   * In one transaction: spends the unused, unexpired reset_password token with this hash, sets the
   * password hash, confirms the address (receiving the mail proved it) if unchanged, and spends
   * the user's other reset tokens. Resolves the user id, or null for an unusable token.
   */
  resetPasswordWithToken(hash: string, now: number, passwordHash: string): Promise<string | null>;
  /** Deletes tokens that expired before `before`. */
  purgeTokens(before: number): Promise<number>;
}

export interface AuthStores {
  accounts: AccountStore;
  sessions: SessionStore;
}
