/**
 * AuthService on a real database (embedded PGlite, the same migrations as Postgres), the memory
 * ephemeral store and a fake clock, with the development mailer capturing every mail. The
 * over-the-wire versions of these flows (HTTP + sockets, Postgres + Redis) are in
 * account-flows.test.ts and session-security.test.ts.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import pino from 'pino';
import { SnowflakeGenerator } from '../../protocol/ids.ts';
import { createStores, MEMORY_DATA_DIR, openDatabase, type Database } from '../../storage/database.ts';
import { createAuthStores, type AuthStores } from '../../storage/auth/index.ts';
import { MemoryEphemeralStore } from '../../storage/ephemeral/memory-ephemeral-store.ts';
import { AuthError, AuthService, type AuthErrorReason, type AuthServiceOptions } from '../../engine/auth/auth-service.ts';
import { JwtCodec } from '../../engine/auth/jwt.ts';
import { DevMailer, linksIn } from '../../engine/mail/mailer.ts';
import { RateLimitedError, RateLimiter } from '../../engine/ratelimit/rate-limiter.ts';

const KEYRING = { current: { kid: 'k1', secret: 'test-secret-test-secret-test-secret!' } };
const ACCESS_TTL = 15 * 60_000;
const REFRESH_TTL = 30 * 24 * 3600_000;
const GRACE = 10_000;
const PASSWORD = 'correct horse battery';
const silent = pino({ level: 'silent' });

async function rejectsWith(p: Promise<unknown>, reason: AuthErrorReason) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof AuthError, `expected AuthError ${reason}, got ${String(err)}`);
    assert.equal(err.reason, reason);
    return true;
  });
}

const tokenOf = (mailText: string) => {
  const link = linksIn(mailText)[0];
  assert.ok(link, 'the mail has a link');
  const m = /#token=([A-Za-z0-9_-]{43})$/.exec(link);
  assert.ok(m, `the link carries the token in its fragment: ${link}`);
  return m[1]!;
};

describe('AuthService (PGlite, memory store, fake clock)', () => {
  let database: Database;
  let authStores: AuthStores;
  let now: { t: number };
  let cache: MemoryEphemeralStore;
  let mailer: DevMailer;
  let auth: AuthService;
  let seq = 0;
  let email: string;
  let nickname: string;

  const make = (over: Partial<AuthServiceOptions> = {}) => {
    const clock = { now: () => now.t };
    return new AuthService({
      users: createStores(database.db).users,
      accounts: authStores.accounts,
      sessions: authStores.sessions,
      cache,
      limiter: new RateLimiter({ store: cache, logger: silent, clock }),
      rules: { loginPerIp: null, loginPerAccount: null, registerPerIp: null, refreshPerSession: null, emailPerAccount: null, emailPerIp: null },
      mailer,
      ids: new SnowflakeGenerator(1, clock),
      clock,
      logger: silent,
      jwt: { keyring: KEYRING, issuer: 'guildhall', audience: 'guildhall-api', accessTtlMs: ACCESS_TTL },
      refreshTtlMs: REFRESH_TTL,
      refreshGraceMs: GRACE,
      sessionCacheTtlMs: 60_000,
      requireEmailConfirmation: false,
      confirmTokenTtlMs: 48 * 3600_000,
      resetTokenTtlMs: 3600_000,
      appUrl: 'https://app.example.test/',
      ...over,
    });
  };

  before(async () => {
    database = await openDatabase({ dataDir: MEMORY_DATA_DIR });
    authStores = createAuthStores(database.db);
  });
  after(() => database?.close());

  beforeEach(() => {
    now = { t: 1_800_000_000_000 + ++seq * 1000 * 3600_000 };
    cache = new MemoryEphemeralStore({ clock: { now: () => now.t }, sweepIntervalMs: 0 });
    mailer = new DevMailer();
    auth = make();
    email = `ada${seq}@example.com`;
    nickname = `ada${seq}`;
  });

  const register = () => auth.register({ email: email.toUpperCase(), password: PASSWORD, nickname });
  const login = (extra: { client?: string; ip?: string } = {}) => auth.login({ email, password: PASSWORD, ...extra });

  it('registers with a normalized email, unconfirmed, argon2id, and mails a confirmation link', async () => {
    const user = await register();
    assert.deepEqual(Object.keys(user).sort(), ['email', 'emailConfirmed', 'id', 'nickname']);
    assert.equal(user.email, email);
    assert.equal(user.emailConfirmed, false);
    const account = await authStores.accounts.findById(user.id);
    assert.match(account!.passwordHash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const mail = await mailer.take((m) => m.to === email);
    assert.match(mail.text, /https:\/\/app\.example\.test\/confirm-email#token=/);
    tokenOf(mail.text);
  });

  it('validates registration input and maps conflicts', async () => {
    await rejectsWith(auth.register({ email: 'nope', password: PASSWORD, nickname }), 'invalid_email');
    await rejectsWith(auth.register({ email: `${'a'.repeat(250)}@x.io`, password: PASSWORD, nickname }), 'invalid_email');
    await rejectsWith(auth.register({ email, password: PASSWORD, nickname: 'a' }), 'invalid_nickname');
    await rejectsWith(auth.register({ email, password: 'short', nickname }), 'invalid_password');
    await rejectsWith(auth.register({ email, password: 'x'.repeat(129), nickname }), 'invalid_password');
    await register();
    await rejectsWith(auth.register({ email: email.toUpperCase(), password: PASSWORD, nickname: `${nickname}x` }), 'email_taken');
    await rejectsWith(auth.register({ email: `x${email}`, password: PASSWORD, nickname: nickname.toUpperCase() }), 'nickname_taken');
  });

  it('login refuses unknown email, wrong password and malformed input alike', async () => {
    await register();
    await rejectsWith(auth.login({ email: `nobody${seq}@example.com`, password: PASSWORD }), 'invalid_credentials');
    await rejectsWith(auth.login({ email, password: 'wrong password' }), 'invalid_credentials');
    await rejectsWith(auth.login({ email: 'not an email', password: PASSWORD }), 'invalid_credentials');
    await rejectsWith(auth.login({ email, password: 'x'.repeat(500) }), 'invalid_credentials');
  });

  it('login opens a session stored in the database with only the hash of its refresh token', async () => {
    const user = await register();
    const out = await login({ client: 'test-client', ip: '10.0.0.1' });
    assert.deepEqual(out.user, user);
    assert.equal(out.expiresIn, ACCESS_TTL / 1000);
    assert.match(out.refreshToken, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(await auth.verifyAccessToken(out.accessToken), { userId: user.id, sessionId: out.sessionId });
    const row = await authStores.sessions.findById(out.sessionId);
    assert.equal(row!.refreshHash, createHash('sha256').update(out.refreshToken).digest('base64url'));
    assert.notEqual(row!.refreshHash, out.refreshToken);
    assert.deepEqual([row!.client, row!.ip, row!.createdAt, row!.expiresAt], ['test-client', '10.0.0.1', now.t, now.t + REFRESH_TTL]);
    const listed = await auth.listSessions(user.id, out.sessionId);
    assert.deepEqual(listed, [{ id: out.sessionId, client: 'test-client', ip: '10.0.0.1', createdAt: now.t, lastActiveAt: now.t, current: true }]);
  });

  it('refresh rotates; the replaced token works only within the grace, then counts as reuse and revokes the session', async () => {
    await register();
    const first = await login();
    now.t += 60_000;
    const second = await auth.refresh(first.refreshToken);
    assert.equal(second.sessionId, first.sessionId);
    assert.notEqual(second.refreshToken, first.refreshToken);
    // A second refresh of the same token within the grace (another tab) gets the same new token.
    now.t += GRACE - 1;
    const again = await auth.refresh(first.refreshToken);
    assert.equal(again.refreshToken, second.refreshToken);
    assert.equal((await auth.verifyAccessToken(again.accessToken)).sessionId, first.sessionId);
    // After the grace the old token is a copy: the whole session goes.
    now.t += 2;
    await rejectsWith(auth.refresh(first.refreshToken), 'invalid_token');
    await rejectsWith(auth.verifyAccessToken(second.accessToken), 'session_revoked');
    await rejectsWith(auth.refresh(second.refreshToken), 'invalid_token');
    assert.equal((await authStores.sessions.findById(first.sessionId))!.revokedReason, 'refresh_token_reuse');
  });

  it('a token two generations old is reuse even within the grace', async () => {
    await register();
    const a = await login();
    const b = await auth.refresh(a.refreshToken);
    const c = await auth.refresh(b.refreshToken);
    assert.notEqual(c.refreshToken, b.refreshToken);
    await rejectsWith(auth.refresh(a.refreshToken), 'invalid_token');
    await rejectsWith(auth.verifyAccessToken(c.accessToken), 'session_revoked');
  });

  it('concurrent refreshes of one token all succeed with the same new token; it rotated once', async () => {
    await register();
    const l = await login();
    const results = await Promise.all(Array.from({ length: 10 }, () => auth.refresh(l.refreshToken)));
    assert.equal(new Set(results.map((r) => r.refreshToken)).size, 1);
    const row = await authStores.sessions.findById(l.sessionId);
    assert.equal(row!.previousRefreshHash, createHash('sha256').update(l.refreshToken).digest('base64url'));
    assert.equal(row!.revokedAt, null);
    const next = await auth.refresh(results[0]!.refreshToken);
    assert.equal((await auth.verifyAccessToken(next.accessToken)).sessionId, l.sessionId);
  });

  it('refresh pushes the idle expiry ahead; an idle session expires', async () => {
    await register();
    const l = await login();
    now.t += REFRESH_TTL - 1000;
    const pair = await auth.refresh(l.refreshToken);
    now.t += REFRESH_TTL - 1000;
    const later = await auth.refresh(pair.refreshToken);
    now.t += REFRESH_TTL;
    await rejectsWith(auth.refresh(later.refreshToken), 'invalid_token');
  });

  it('verifying an access token records activity, at most once a minute', async () => {
    await register();
    const l = await login();
    const lastActive = async () => {
      await new Promise((r) => setTimeout(r, 50)); // the write happens in the background
      return (await authStores.sessions.findById(l.sessionId))!.lastActiveAt;
    };
    now.t += 30_000;
    await auth.verifyAccessToken(l.accessToken);
    const first = now.t;
    assert.equal(await lastActive(), first);
    now.t += 40_000;
    await auth.verifyAccessToken(l.accessToken);
    assert.equal(await lastActive(), first, 'within a minute of the last write: none');
    now.t += 30_000;
    await auth.verifyAccessToken(l.accessToken);
    assert.equal(await lastActive(), now.t);
  });

  it('rejects garbage refresh tokens', async () => {
    await rejectsWith(auth.refresh('nope'), 'invalid_token');
    await rejectsWith(auth.refresh('A'.repeat(43)), 'invalid_token');
    await rejectsWith(auth.logout('A'.repeat(43)), 'invalid_token');
  });

  it('logout revokes its session only', async () => {
    const user = await register();
    const a = await login();
    const b = await login();
    await auth.logout(a.refreshToken);
    await rejectsWith(auth.verifyAccessToken(a.accessToken), 'session_revoked');
    await rejectsWith(auth.refresh(a.refreshToken), 'invalid_token');
    await rejectsWith(auth.logout(a.refreshToken), 'invalid_token');
    assert.equal((await auth.verifyAccessToken(b.accessToken)).sessionId, b.sessionId);
    assert.deepEqual((await auth.listSessions(user.id, null)).map((s) => s.id), [b.sessionId]);
  });

  it('verifyAccessToken: expired_token after the access TTL, invalid_token for foreign tokens', async () => {
    await register();
    const out = await login();
    const foreign = new JwtCodec({
      keyring: { current: { kid: 'k1', secret: 'another-secret-another-secret-12345' } },
      issuer: 'guildhall', audience: 'guildhall-api', clock: { now: () => now.t },
    }).sign({ sub: out.user.id, sid: out.sessionId }, 60_000);
    await rejectsWith(auth.verifyAccessToken(foreign), 'invalid_token');
    await rejectsWith(auth.verifyAccessToken('garbage'), 'invalid_token');
    now.t += ACCESS_TTL + 10_000;
    await rejectsWith(auth.verifyAccessToken(out.accessToken), 'expired_token');
  });

  it('revocation is seen at once, and still after the cache is lost', async () => {
    const user = await register();
    const a = await login();
    const b = await login();
    const revoked: string[][] = [];
    auth.onRevoked((ids) => revoked.push([...ids]));
    await auth.verifyAccessToken(a.accessToken); // caches "live"
    assert.match((await cache.get(`auth:session:${a.sessionId}`))!, /^live:/);
    await auth.revokeSession(user.id, a.sessionId);
    assert.deepEqual(revoked, [[a.sessionId]]);
    await rejectsWith(auth.verifyAccessToken(a.accessToken), 'session_revoked');
    // A fresh service (another node, or after a restart) with an empty cache agrees.
    cache = new MemoryEphemeralStore({ clock: { now: () => now.t }, sweepIntervalMs: 0 });
    const other = make();
    await rejectsWith(other.verifyAccessToken(a.accessToken), 'session_revoked');
    assert.equal((await other.verifyAccessToken(b.accessToken)).sessionId, b.sessionId);
    await rejectsWith(auth.revokeSession(user.id, a.sessionId), 'unknown_session');
    await rejectsWith(auth.revokeSession('12345', b.sessionId), 'unknown_session');
  });

  it('revoke others keeps the current session; revoke all ends every one', async () => {
    const user = await register();
    const [a, b, c] = [await login(), await login(), await login()];
    assert.equal(await auth.revokeOtherSessions(user.id, b.sessionId), 2);
    assert.deepEqual((await auth.listSessions(user.id, b.sessionId)).map((s) => [s.id, s.current]), [[b.sessionId, true]]);
    await rejectsWith(auth.verifyAccessToken(a.accessToken), 'session_revoked');
    await rejectsWith(auth.verifyAccessToken(c.accessToken), 'session_revoked');
    assert.equal(await auth.revokeAllSessions(user.id), 1);
    assert.deepEqual(await auth.listSessions(user.id, null), []);
  });

  it('with requireEmailConfirmation, only confirmed accounts log in; the confirmation token is single-use', async () => {
    auth = make({ requireEmailConfirmation: true });
    await register();
    const mail = await mailer.take((m) => m.to === email);
    await rejectsWith(auth.login({ email, password: 'wrong password' }), 'invalid_credentials');
    await rejectsWith(login(), 'email_not_confirmed');
    await auth.confirmEmail(tokenOf(mail.text));
    const ok = await login();
    assert.equal(ok.user.emailConfirmed, true);
    await rejectsWith(auth.confirmEmail(tokenOf(mail.text)), 'invalid_link_token');
    await rejectsWith(auth.confirmEmail('nope'), 'invalid_link_token');
  });

  it('confirmation tokens expire; a resend replaces the earlier token; confirmed accounts get no resend', async () => {
    await register();
    const first = tokenOf((await mailer.take((m) => m.to === email)).text);
    await auth.resendConfirmation({ email });
    const second = tokenOf((await mailer.take((m) => m.to === email)).text);
    await rejectsWith(auth.confirmEmail(first), 'invalid_link_token');
    now.t += 48 * 3600_000 + 1;
    await rejectsWith(auth.confirmEmail(second), 'invalid_link_token');
    await auth.resendConfirmation({ email });
    await auth.confirmEmail(tokenOf((await mailer.take((m) => m.to === email)).text));
    await auth.resendConfirmation({ email });
    await auth.resendConfirmation({ email: `nobody${seq}@example.com` });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(mailer.sent.filter((m) => m.to === email || m.to === `nobody${seq}@example.com`).length, 0);
    await rejectsWith(auth.resendConfirmation({ email: 'bad' }), 'invalid_email');
  });

  it('password reset: mailed only to existing accounts, single-use, expiring, revokes every session', async () => {
    const user = await register();
    await mailer.take((m) => m.to === email);
    const a = await login();
    await auth.requestPasswordReset({ email: `nobody${seq}@example.com` });
    await auth.requestPasswordReset({ email: email.toUpperCase() });
    const mail = await mailer.take((m) => m.to === email);
    assert.match(mail.subject, /reset/i);
    const token = tokenOf(mail.text);
    assert.match(linksIn(mail.text)[0]!, /\/reset-password#token=/);
    await rejectsWith(auth.resetPassword({ token, password: 'short' }), 'invalid_password');
    await auth.resetPassword({ token, password: 'a brand new password' });
    await rejectsWith(auth.resetPassword({ token, password: 'another new password' }), 'invalid_link_token');
    await rejectsWith(auth.verifyAccessToken(a.accessToken), 'session_revoked');
    await rejectsWith(login(), 'invalid_credentials');
    const b = await auth.login({ email, password: 'a brand new password' });
    assert.equal(b.user.emailConfirmed, true, 'receiving the reset mail proved the address');
    assert.equal(mailer.sent.filter((m) => m.to === `nobody${seq}@example.com`).length, 0);
    // Expiry, and a newer request voids the older link.
    await auth.requestPasswordReset({ email });
    const old = tokenOf((await mailer.take((m) => m.to === email)).text);
    await auth.requestPasswordReset({ email });
    const newer = tokenOf((await mailer.take((m) => m.to === email)).text);
    await rejectsWith(auth.resetPassword({ token: old, password: 'yet another password' }), 'invalid_link_token');
    now.t += 3600_000 + 1;
    await rejectsWith(auth.resetPassword({ token: newer, password: 'yet another password' }), 'invalid_link_token');
    assert.deepEqual((await auth.listSessions(user.id, null)).map((s) => s.id), [b.sessionId], 'failed resets revoke nothing');
  });

  it('password change needs the current password, keeps the calling session and ends the others', async () => {
    await register();
    const a = await login();
    const b = await login();
    await auth.requestPasswordReset({ email });
    const pendingReset = tokenOf((await mailer.take((m) => m.to === email && /reset/i.test(m.subject))).text);
    const caller = await auth.verifyAccessToken(a.accessToken);
    await rejectsWith(auth.changePassword(caller, { currentPassword: 'wrong password', newPassword: 'new password 123' }), 'invalid_credentials');
    await rejectsWith(auth.changePassword(caller, { currentPassword: PASSWORD, newPassword: 'short' }), 'invalid_password');
    await auth.changePassword(caller, { currentPassword: PASSWORD, newPassword: 'new password 123' });
    assert.equal((await auth.verifyAccessToken(a.accessToken)).sessionId, a.sessionId);
    await rejectsWith(auth.verifyAccessToken(b.accessToken), 'session_revoked');
    await rejectsWith(login(), 'invalid_credentials');
    await auth.login({ email, password: 'new password 123' });
    await rejectsWith(auth.resetPassword({ token: pendingReset, password: 'sneaky password' }), 'invalid_link_token');
  });

  it('rate limits: login per account is exact under concurrency and keyed by address, existing or not', async () => {
    auth = make({ rules: {
      loginPerIp: null, loginPerAccount: { name: 'login-account', spec: { capacity: 3, refillPerSec: 1 / 3600 } },
      registerPerIp: null, refreshPerSession: null, emailPerAccount: null, emailPerIp: null,
    } });
    await register();
    await login();
    await login();
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => login()));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof RateLimitedError && r.reason.retryAfterMs > 0);
    // An unknown address is limited exactly the same way (no difference to observe).
    const ghost = `ghost${seq}@example.com`;
    const ghostResults = await Promise.allSettled(Array.from({ length: 5 }, () => auth.login({ email: ghost, password: PASSWORD })));
    assert.deepEqual(ghostResults.map((r) => (r.status === 'rejected' && r.reason instanceof RateLimitedError ? 'limited' : 'refused')),
      ['refused', 'refused', 'refused', 'limited', 'limited']);
  });

  it('purge deletes long-expired and long-revoked sessions and used-up tokens', async () => {
    const user = await register();
    const a = await login();
    const b = await login();
    await auth.revokeSession(user.id, b.sessionId);
    now.t += REFRESH_TTL + 2 * 24 * 3600_000;
    await auth.purge();
    assert.equal(await authStores.sessions.findById(a.sessionId), null);
    assert.equal(await authStores.sessions.findById(b.sessionId), null);
  });
});
