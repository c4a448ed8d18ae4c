/**
 * Accounts and sessions.
 *
 * Where things live (the database is the source of truth; the ephemeral store may be lost at any
 * moment without making anything revoked valid again):
 *
 *   database  users (argon2id hash, email_confirmed_at), sessions (refresh-token hashes, client,
 *             IP, times, revoked_at), spent_refresh_tokens, account_tokens (confirmation and
 *             reset tokens, hashed, single-use, expiring)
 *   ephemeral auth:session:<sid>  "live:<userId>:<expiresAtMs>" (TTL ≤ sessionCacheTtlMs) or
 *             "revoked" (a tombstone) — a cache of the database row for access-token checks
 *             rl:<rule>:<id>  token buckets of the rate limits
 *
 * Tokens. Access tokens are short-lived HS256 JWTs (jwt.ts) whose `sid` must name a live session,
 * checked on every verify (cache, then database on a miss), so revocation takes effect at once.
 * Refresh tokens are 32 random bytes, stored only as SHA-256, and rotate on every refresh: the next
 * token is HMAC(session rotation key, presented token). Presenting the previous token within
 * `refreshGraceMs` of its rotation (two tabs refreshing at once) derives the same next token
 * again, so both callers end up holding the one current token; presenting it later, or any older
 * token, is reuse — the token was copied — and revokes the whole session (OAuth 2.0 Security BCP
 * §4.14, Auth0's refresh-token rotation).
 *
 * Revocation writes the database first, then a "revoked" tombstone to the cache, then tells the
 * listeners (the gateway closes the session's sockets). A cache fill after a database read uses
 * SET NX, so it can never overwrite a tombstone written by a concurrent revocation.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock, SnowflakeGenerator } from '../../protocol/ids.ts';
import { isValidNickname, NICKNAME_RULE_TEXT } from '../../protocol/nickname.ts';
import type { UserStore } from '../../storage/ports.ts';
import { ConflictError } from '../../storage/records.ts';
import type { AccountRecord, AccountStore, RevokeFilter, SessionRecord, SessionStore } from '../../storage/auth/ports.ts';
import type { EphemeralStore } from '../../storage/ephemeral/ephemeral-store.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { RateLimiter, RateRule } from '../ratelimit/rate-limiter.ts';
import { JwtCodec, TokenError, type JwtKeyring } from './jwt.ts';
import { hashPassword, isAcceptablePassword, passwordNeedsRehash, verifyPassword } from './passwords.ts';

export type AuthErrorReason =
  | 'invalid_email' | 'invalid_nickname' | 'invalid_password'
  | 'email_taken' | 'nickname_taken'
  | 'invalid_credentials' | 'email_not_confirmed'
  | 'invalid_token' | 'expired_token' | 'session_revoked'
  | 'invalid_link_token' | 'unknown_session';

/** An expected authentication outcome; `reason` is stable and meant for mapping to protocol errors. */
export class AuthError extends Error {
  constructor(readonly reason: AuthErrorReason, message: string = reason) {
    super(message);
    this.name = 'AuthError';
  }
}

export interface PublicUser {
  id: string;
  email: string;
  nickname: string;
  emailConfirmed: boolean;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  /** Access token lifetime in seconds (OAuth `expires_in` convention). */
  expiresIn: number;
}

export interface LoginResult extends TokenPair {
  user: PublicUser;
}

export interface SessionView {
  id: string;
  client: string | null;
  ip: string | null;
  createdAt: number;
  lastActiveAt: number;
  /** True for the session the request was made with. */
  current: boolean;
}

export interface Caller {
  userId: string;
  sessionId: string;
}

export interface AuthRateRules {
  loginPerIp: RateRule | null;
  loginPerAccount: RateRule | null;
  registerPerIp: RateRule | null;
  refreshPerSession: RateRule | null;
  /** Confirmation resends and reset requests per email address. */
  emailPerAccount: RateRule | null;
  /** Confirmation resends and reset requests per client IP. */
  emailPerIp: RateRule | null;
}

export interface AuthServiceOptions {
  users: UserStore;
  accounts: AccountStore;
  sessions: SessionStore;
  /** Cache of session liveness (may be lost at any time). */
  cache: EphemeralStore;
  limiter: RateLimiter;
  rules: AuthRateRules;
  mailer: Mailer;
  ids: SnowflakeGenerator;
  clock: Clock;
  logger: Logger;
  jwt: { keyring: JwtKeyring; issuer: string; audience: string; accessTtlMs: number };
  /** Idle lifetime of a session: each refresh pushes its expiry this far ahead. */
  refreshTtlMs: number;
  /** How long after a rotation the replaced refresh token may still be presented (concurrent refreshes). */
  refreshGraceMs: number;
  /** Longest time a "live" cache entry is trusted before the database is asked again. */
  sessionCacheTtlMs: number;
  /** Refuse logins to accounts whose email address is not confirmed. */
  requireEmailConfirmation: boolean;
  confirmTokenTtlMs: number;
  resetTokenTtlMs: number;
  /** Base URL of the web app that hosts /confirm-email and /reset-password (links in emails). */
  appUrl: string;
}

export type RevocationListener = (sessionIds: readonly string[], reason: string) => void;

export const EMAIL_MAX_LENGTH = 254;
const EMAIL_RE = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
/** Refresh, confirmation and reset tokens: 32 random bytes, base64url. */
const OPAQUE_TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;
const MAX_META_CHARS = 128;
const TOUCH_INTERVAL_MS = 60_000;
const DAY_MS = 24 * 3600_000;

const sessionKey = (sid: string) => `auth:session:${sid}`;
const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');
const newOpaqueToken = () => randomBytes(32).toString('base64url');
const nextRefreshToken = (rotationKey: string, presented: string) => createHmac('sha256', Buffer.from(rotationKey, 'base64url')).update(presented).digest('base64url');

/** Trimmed, lowercased email if it has the shape local@domain.tld and ≤ 254 chars, else null. */
export function normalizeEmail(email: unknown): string | null {
  if (typeof email !== 'string') return null;
  const e = email.trim().toLowerCase();
  return e.length <= EMAIL_MAX_LENGTH && EMAIL_RE.test(e) ? e : null;
}

/** Nickname rules live in protocol/nickname.ts (one definition for registration, profiles and search). */
export { isValidNickname };

const toPublic = (u: { id: string; email: string; nickname: string }, emailConfirmed: boolean): PublicUser =>
  ({ id: u.id, email: u.email, nickname: u.nickname, emailConfirmed });

const meta = (v: string | undefined): string | null => (typeof v === 'string' && v ? v.slice(0, MAX_META_CHARS) : null);

export class AuthService {
  private readonly jwt: JwtCodec;
  private readonly listeners = new Set<RevocationListener>();
  private readonly tombstoneTtlMs: number;
  /** Sessions this node revoked in the last minute: closes the race with a verify already in flight. */
  private readonly recentlyRevoked = new Map<string, number>();
  /** When this node last recorded each session as active (bounds the database writes). */
  private readonly touched = new Map<string, number>();

  constructor(private readonly opts: AuthServiceOptions) {
    if (!(opts.refreshTtlMs > opts.jwt.accessTtlMs)) throw new RangeError('refreshTtlMs must exceed accessTtlMs');
    this.jwt = new JwtCodec({ keyring: opts.jwt.keyring, issuer: opts.jwt.issuer, audience: opts.jwt.audience, clock: opts.clock });
    // Past this, every access token of the revoked session has expired anyway; a miss re-reads the database.
    this.tombstoneTtlMs = opts.jwt.accessTtlMs + 60_000;
  }

  /** Called with the ids of sessions right after they were revoked (e.g. to close their sockets). */
  onRevoked(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- accounts ----------------------------------------------------------------------------------

  /**
   * Creates an account and mails a confirmation link (in the background). Throws AuthError
   * invalid_email | invalid_nickname | invalid_password | email_taken | nickname_taken, or
   * RateLimitedError (register per IP).
   */
  async register(input: { email: string; password: string; nickname: string; ip?: string }): Promise<PublicUser> {
    await this.opts.limiter.enforce(this.opts.rules.registerPerIp, input.ip ?? 'unknown');
    const email = normalizeEmail(input.email);
    if (!email) throw new AuthError('invalid_email', `email must look like name@example.com and be at most ${EMAIL_MAX_LENGTH} characters`);
    if (!isValidNickname(input.nickname)) throw new AuthError('invalid_nickname', NICKNAME_RULE_TEXT);
    if (!isAcceptablePassword(input.password)) throw new AuthError('invalid_password', 'password must be 8-128 characters');
    const passwordHash = await hashPassword(input.password);
    try {
      const user = await this.opts.users.create({
        id: this.opts.ids.next(), email, nickname: input.nickname, passwordHash, createdAt: this.opts.clock.now(),
      });
      this.opts.logger.info({ userId: user.id }, 'user registered');
      this.background(this.sendConfirmation(user), 'confirmation mail');
      return toPublic(user, false);
    } catch (err) {
      if (err instanceof ConflictError && err.field === 'email') throw new AuthError('email_taken', 'email is already registered');
      if (err instanceof ConflictError && err.field === 'nickname') throw new AuthError('nickname_taken', 'nickname is already taken');
      throw err;
    }
  }

  /** Confirms the address the token was mailed to. Throws AuthError('invalid_link_token'). */
  async confirmEmail(token: string): Promise<void> {
    if (typeof token !== 'string' || !OPAQUE_TOKEN_RE.test(token)) throw new AuthError('invalid_link_token');
    const userId = await this.opts.accounts.confirmEmailWithToken(sha256(token), this.opts.clock.now());
    if (userId === null) throw new AuthError('invalid_link_token');
    this.opts.logger.info({ userId }, 'email confirmed');
  }

  /**
   * Mails a new confirmation link if `email` belongs to an unconfirmed account. Answers the same
   * whether or not it does (the work happens in the background). Throws AuthError('invalid_email')
   * for a malformed address, RateLimitedError per IP and per address.
   */
  async resendConfirmation(input: { email: string; ip?: string }): Promise<void> {
    const email = await this.limitEmailRequest('confirm', input);
    this.background((async () => {
      const account = await this.opts.accounts.findByEmail(email);
      if (account && account.emailConfirmedAt === null) await this.sendConfirmation(account);
    })(), 'confirmation resend');
  }

  /**
   * Mails a password-reset link if `email` belongs to an account. Answers the same either way.
   * Throws AuthError('invalid_email') for a malformed address, RateLimitedError per IP and address.
   */
  async requestPasswordReset(input: { email: string; ip?: string }): Promise<void> {
    const email = await this.limitEmailRequest('reset', input);
    this.background((async () => {
      const account = await this.opts.accounts.findByEmail(email);
      if (!account) return;
      const token = newOpaqueToken();
      const now = this.opts.clock.now();
      await this.opts.accounts.issueToken({
        hash: sha256(token), userId: account.id, purpose: 'reset_password', email: account.email, createdAt: now, expiresAt: now + this.opts.resetTokenTtlMs,
      });
      await this.opts.mailer.send({
        to: account.email,
        subject: 'Reset your Guildhall password',
        text: [
          `Someone (hopefully you) asked to reset the password of the Guildhall account ${account.nickname}.`,
          '',
          `Choose a new password here: ${this.link('reset-password', token)}`,
          '',
          `The link works once and expires in ${formatDuration(this.opts.resetTokenTtlMs)}. Resetting signs out every session.`,
          'If you did not ask for this, ignore this email: your password stays as it is.',
        ].join('\n'),
      });
      this.opts.logger.info({ userId: account.id }, 'password reset mail sent');
    })(), 'password reset mail');
  }

  /**
   * Sets a new password with a reset token, confirms the address, and revokes every session of the
   * account. Throws AuthError invalid_password | invalid_link_token.
   */
  async resetPassword(input: { token: string; password: string }): Promise<void> {
    if (!isAcceptablePassword(input.password)) throw new AuthError('invalid_password', 'password must be 8-128 characters');
    if (typeof input.token !== 'string' || !OPAQUE_TOKEN_RE.test(input.token)) throw new AuthError('invalid_link_token');
    const hash = sha256(input.token);
    // Cheap check first, so that random tokens cost no password hashing.
    if (!(await this.opts.accounts.isTokenUsable(hash, 'reset_password', this.opts.clock.now()))) throw new AuthError('invalid_link_token');
    const passwordHash = await hashPassword(input.password);
    const userId = await this.opts.accounts.resetPasswordWithToken(hash, this.opts.clock.now(), passwordHash);
    if (userId === null) throw new AuthError('invalid_link_token');
    const revoked = await this.revoke({ userId }, 'password_reset');
    this.opts.logger.info({ userId, revoked: revoked.length }, 'password reset');
  }

  /**
   * Changes the caller's password after checking the current one, and revokes the user's other
   * sessions (the calling session stays). Throws AuthError invalid_credentials | invalid_password,
   * RateLimitedError (shares the login-per-account budget, so it cannot be used to guess).
   */
  async changePassword(caller: Caller, input: { currentPassword: string; newPassword: string }): Promise<void> {
    const account = await this.opts.accounts.findById(caller.userId);
    if (!account) throw new AuthError('session_revoked');
    await this.opts.limiter.enforce(this.opts.rules.loginPerAccount, sha256(account.email.toLowerCase()));
    if (!(await verifyPassword(account.passwordHash, input.currentPassword))) throw new AuthError('invalid_credentials', 'current password is wrong');
    if (!isAcceptablePassword(input.newPassword)) throw new AuthError('invalid_password', 'password must be 8-128 characters');
    await this.opts.accounts.setPasswordHash(account.id, await hashPassword(input.newPassword));
    await this.opts.accounts.spendTokens(account.id, 'reset_password', this.opts.clock.now());
    const revoked = await this.revoke({ userId: account.id, exceptSessionId: caller.sessionId }, 'password_changed');
    this.opts.logger.info({ userId: account.id, revoked: revoked.length }, 'password changed');
  }

  // ---- sessions ----------------------------------------------------------------------------------

  /**
   * Checks the credentials and opens a session. Any failure — unknown email, wrong password,
   * malformed input — is AuthError('invalid_credentials') after the same password-hashing work.
   * With requireEmailConfirmation, correct credentials of an unconfirmed account give
   * email_not_confirmed. RateLimitedError per IP and per account (keyed by the address given,
   * whether or not it exists).
   */
  async login(input: { email: string; password: string; client?: string; ip?: string }): Promise<LoginResult> {
    await this.opts.limiter.enforce(this.opts.rules.loginPerIp, input.ip ?? 'unknown');
    const email = normalizeEmail(input.email);
    const accountKey = sha256(email ?? (typeof input.email === 'string' ? input.email.trim().toLowerCase().slice(0, 512) : ''));
    await this.opts.limiter.enforce(this.opts.rules.loginPerAccount, accountKey);
    const account = email ? await this.opts.accounts.findByEmail(email) : null;
    const ok = await verifyPassword(account?.passwordHash ?? null, input.password);
    if (!account || !ok) {
      this.opts.logger.info({ ip: input.ip }, 'login refused');
      throw new AuthError('invalid_credentials', 'invalid email or password');
    }
    if (this.opts.requireEmailConfirmation && account.emailConfirmedAt === null) {
      throw new AuthError('email_not_confirmed', 'confirm your email address first');
    }
    if (passwordNeedsRehash(account.passwordHash)) {
      this.background(hashPassword(input.password).then((h) => this.opts.accounts.setPasswordHash(account.id, h)), 'password rehash');
    }
    const pair = await this.openSession(account, meta(input.client), meta(input.ip));
    this.opts.logger.info({ userId: account.id, sessionId: pair.sessionId }, 'session opened');
    return { ...pair, user: toPublic(account, account.emailConfirmedAt !== null) };
  }

  /**
   * Exchanges a refresh token for a new pair and pushes the session's expiry ahead. Throws
   * AuthError('invalid_token') for an unknown, expired, revoked or reused token (reuse also revokes
   * the session), RateLimitedError (refresh per session).
   */
  async refresh(refreshToken: string): Promise<TokenPair> {
    if (typeof refreshToken !== 'string' || !OPAQUE_TOKEN_RE.test(refreshToken)) throw new AuthError('invalid_token');
    const hash = sha256(refreshToken);
    for (let attempt = 0; attempt < 3; attempt++) {
      const found = await this.opts.sessions.findByRefreshHash(hash);
      if (!found) throw new AuthError('invalid_token');
      const { session, match } = found;
      const now = this.opts.clock.now();
      if (session.revokedAt !== null || session.expiresAt <= now) throw new AuthError('invalid_token');
      if (attempt === 0) await this.opts.limiter.enforce(this.opts.rules.refreshPerSession, session.id);
      const next = nextRefreshToken(session.rotationKey, refreshToken);
      if (match === 'current') {
        if (await this.opts.sessions.rotate(session.id, hash, sha256(next), now, now + this.opts.refreshTtlMs)) {
          return this.tokens(session.userId, session.id, next);
        }
        continue; // a concurrent refresh rotated it first: look again (now as 'previous')
      }
      if (match === 'previous' && session.rotatedAt !== null && now - session.rotatedAt <= this.opts.refreshGraceMs
        && session.refreshHash === sha256(next)) {
        return this.tokens(session.userId, session.id, next);
      }
      await this.revoke({ userId: session.userId, sessionId: session.id }, 'refresh_token_reuse');
      this.opts.logger.warn({ sessionId: session.id, userId: session.userId, match }, 'refresh token reused; session revoked');
      throw new AuthError('invalid_token');
    }
    throw new AuthError('invalid_token');
  }

  /** Ends the session a refresh token belongs to. Throws AuthError('invalid_token') if there is none. */
  async logout(refreshToken: string): Promise<void> {
    if (typeof refreshToken !== 'string' || !OPAQUE_TOKEN_RE.test(refreshToken)) throw new AuthError('invalid_token');
    const found = await this.opts.sessions.findByRefreshHash(sha256(refreshToken));
    if (!found || found.session.revokedAt !== null) throw new AuthError('invalid_token');
    await this.revoke({ userId: found.session.userId, sessionId: found.session.id }, 'logout');
    this.opts.logger.info({ sessionId: found.session.id }, 'session closed');
  }

  /**
   * Verifies an access token: signature, algorithm, kid, issuer, audience, expiry, and that its
   * session is live right now; records the session as active (at most once a minute).
   * Throws AuthError expired_token | invalid_token | session_revoked.
   *
   * A revocation on this node that lands while the database read is in flight is caught by the
   * recently-revoked check at the end: everything after it until the caller (the gateway) records
   * the session on its connection runs without yielding to I/O, so either this check sees the
   * revocation or the revocation's listener sees the connection.
   */
  async verifyAccessToken(token: string): Promise<Caller> {
    let claims;
    try {
      claims = this.jwt.verify(token);
    } catch (err) {
      if (err instanceof TokenError) throw new AuthError(err.reason === 'expired' ? 'expired_token' : 'invalid_token', err.message);
      throw err;
    }
    const owner = await this.sessionOwner(claims.sid);
    if (owner !== claims.sub || this.recentlyRevoked.has(claims.sid)) throw new AuthError('session_revoked');
    this.touch(claims.sid);
    return { userId: claims.sub, sessionId: claims.sid };
  }

  /** The user's live sessions, newest first, marking `currentSessionId`. */
  async listSessions(userId: string, currentSessionId: string | null): Promise<SessionView[]> {
    const rows = await this.opts.sessions.listLive(userId, this.opts.clock.now());
    return rows.map((s) => ({
      id: s.id, client: s.client, ip: s.ip, createdAt: s.createdAt, lastActiveAt: s.lastActiveAt, current: s.id === currentSessionId,
    }));
  }

  /** Revokes one of the user's sessions. Throws AuthError('unknown_session') if it is not a live session of theirs. */
  async revokeSession(userId: string, sessionId: string, reason = 'revoked'): Promise<void> {
    const revoked = await this.revoke({ userId, sessionId }, reason);
    if (revoked.length === 0) throw new AuthError('unknown_session', 'no such session');
  }

  /** Revokes every session of the user but `keepSessionId`; resolves how many. */
  async revokeOtherSessions(userId: string, keepSessionId: string): Promise<number> {
    return (await this.revoke({ userId, exceptSessionId: keepSessionId }, 'revoked_others')).length;
  }

  /** Revokes every session of the user; resolves how many. */
  async revokeAllSessions(userId: string): Promise<number> {
    return (await this.revoke({ userId }, 'revoked_all')).length;
  }

  /** Of `sessionIds`, those that are still live, read from the database (the source of truth). */
  async liveSessionIds(sessionIds: readonly string[]): Promise<Set<string>> {
    return new Set(await this.opts.sessions.liveIds(sessionIds, this.opts.clock.now()));
  }

  /** Deletes sessions and tokens that can no longer be used (run periodically). */
  async purge(): Promise<void> {
    const now = this.opts.clock.now();
    const sessions = await this.opts.sessions.purge(now - DAY_MS, now - this.opts.refreshTtlMs);
    const tokens = await this.opts.accounts.purgeTokens(now - DAY_MS);
    if (sessions + tokens > 0) this.opts.logger.info({ sessions, tokens }, 'purged expired sessions and tokens');
  }

  // ---- internals ---------------------------------------------------------------------------------

  private async openSession(account: AccountRecord, client: string | null, ip: string | null): Promise<TokenPair> {
    const now = this.opts.clock.now();
    const refreshToken = newOpaqueToken();
    const session: Omit<SessionRecord, 'revokedAt' | 'revokedReason' | 'previousRefreshHash' | 'rotatedAt'> = {
      id: this.opts.ids.next(),
      userId: account.id,
      client,
      ip,
      createdAt: now,
      lastActiveAt: now,
      expiresAt: now + this.opts.refreshTtlMs,
      refreshHash: sha256(refreshToken),
      rotationKey: randomBytes(32).toString('base64url'),
    };
    await this.opts.sessions.create(session);
    return this.tokens(account.id, session.id, refreshToken);
  }

  /** Records the session as active, at most once per TOUCH_INTERVAL_MS per session and node. */
  private touch(sid: string): void {
    const now = this.opts.clock.now();
    const last = this.touched.get(sid);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    this.touched.delete(sid);
    this.touched.set(sid, now);
    if (this.touched.size > 10_000) this.touched.delete(this.touched.keys().next().value!);
    this.background(this.opts.sessions.touch(sid, now, 0), 'session touch');
  }

  private tokens(userId: string, sessionId: string, refreshToken: string): TokenPair {
    const accessToken = this.jwt.sign({ sub: userId, sid: sessionId }, this.opts.jwt.accessTtlMs);
    return { accessToken, refreshToken, sessionId, expiresIn: Math.floor(this.opts.jwt.accessTtlMs / 1000) };
  }

  /** Database first, then cache tombstones, then listeners. Resolves the ids revoked. */
  private async revoke(filter: RevokeFilter, reason: string): Promise<string[]> {
    const ids = await this.opts.sessions.revoke(filter, this.opts.clock.now(), reason);
    if (ids.length === 0) return ids;
    const now = this.opts.clock.now();
    for (const [id, until] of this.recentlyRevoked) if (until <= now) this.recentlyRevoked.delete(id);
    for (const id of ids) this.recentlyRevoked.set(id, now + 60_000);
    await Promise.all(ids.map((id) =>
      this.opts.cache.set(sessionKey(id), 'revoked', { ttlMs: this.tombstoneTtlMs }).catch((err: unknown) => {
        // The database already says revoked; a stale "live" entry can outlive this for at most sessionCacheTtlMs.
        this.opts.logger.warn({ err, sessionId: id }, 'could not write session tombstone to the cache');
      })));
    for (const listener of this.listeners) {
      try {
        listener(ids, reason);
      } catch (err) {
        this.opts.logger.error({ err }, 'revocation listener failed');
      }
    }
    this.opts.logger.info({ userId: filter.userId, sessions: ids, reason }, 'sessions revoked');
    return ids;
  }

  /** The user id of a live session, or null: the cache when it answers, else the database. */
  private async sessionOwner(sid: string): Promise<string | null> {
    const now = this.opts.clock.now();
    let cached: string | null = null;
    try {
      cached = await this.opts.cache.get(sessionKey(sid));
    } catch (err) {
      this.opts.logger.debug({ err }, 'session cache unavailable; reading the database');
    }
    if (cached === 'revoked') return null;
    if (cached !== null && cached.startsWith('live:')) {
      const [, userId, expiresAt] = cached.split(':');
      if (userId && Number(expiresAt) > now) return userId;
    }
    const s = await this.opts.sessions.findById(sid);
    const live = s !== null && s.revokedAt === null && s.expiresAt > now;
    // Filled in the background: the answer came from the database, the cache is an optimisation.
    // SET NX: a fill never overwrites a tombstone that a concurrent revocation wrote meanwhile.
    const fill = live
      ? this.opts.cache.set(sessionKey(sid), `live:${s.userId}:${s.expiresAt}`, { ttlMs: Math.min(this.opts.sessionCacheTtlMs, s.expiresAt - now), onlyIfAbsent: true })
      : s !== null ? this.opts.cache.set(sessionKey(sid), 'revoked', { ttlMs: this.tombstoneTtlMs }) : null;
    fill?.catch(() => {});
    return live ? s.userId : null;
  }

  private async sendConfirmation(account: { id: string; email: string; nickname: string }): Promise<void> {
    const token = newOpaqueToken();
    const now = this.opts.clock.now();
    await this.opts.accounts.issueToken({
      hash: sha256(token), userId: account.id, purpose: 'confirm_email', email: account.email, createdAt: now, expiresAt: now + this.opts.confirmTokenTtlMs,
    });
    await this.opts.mailer.send({
      to: account.email,
      subject: 'Confirm your Guildhall email address',
      text: [
        `Welcome to Guildhall, ${account.nickname}!`,
        '',
        `Confirm your email address here: ${this.link('confirm-email', token)}`,
        '',
        `The link works once and expires in ${formatDuration(this.opts.confirmTokenTtlMs)}.`,
        'If you did not create this account, ignore this email.',
      ].join('\n'),
    });
    this.opts.logger.info({ userId: account.id }, 'confirmation mail sent');
  }

  /** Validates the address and applies the per-IP and per-address limits of emailed links. */
  private async limitEmailRequest(kind: 'confirm' | 'reset', input: { email: string; ip?: string }): Promise<string> {
    await this.opts.limiter.enforce(this.opts.rules.emailPerIp, input.ip ?? 'unknown');
    const email = normalizeEmail(input.email);
    if (!email) throw new AuthError('invalid_email', `email must look like name@example.com and be at most ${EMAIL_MAX_LENGTH} characters`);
    await this.opts.limiter.enforce(this.opts.rules.emailPerAccount, `${kind}:${sha256(email)}`);
    return email;
  }

  /** The token goes in the fragment, which browsers never send to servers or in Referer headers. */
  private link(page: string, token: string): string {
    return `${this.opts.appUrl.replace(/\/+$/, '')}/${page}#token=${token}`;
  }

  private background(work: Promise<unknown>, what: string): void {
    work.catch((err: unknown) => this.opts.logger.error({ err }, `${what} failed`));
  }
}

function formatDuration(ms: number): string {
  if (ms % 3600_000 === 0) return `${ms / 3600_000} hour${ms === 3600_000 ? '' : 's'}`;
  return `${Math.round(ms / 60_000)} minutes`;
}
