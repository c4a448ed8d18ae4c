/**
 * Attacks on tokens and sessions, over real sockets and HTTP against Postgres and Redis:
 * forged / `none` / wrong-algorithm / wrong-audience / wrong-issuer / unknown-kid / expired JWTs at
 * IDENTIFY, key rotation, refresh-token reuse, and revocation (one session, the others, all,
 * logout, password change) kicking live sockets within a second with SESSION_REVOKED — which is
 * not resumable — while the access token stops working at once.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { JwtCodec } from '../../engine/auth/jwt.ts';
import { auth, GuildhallHttpError } from '../../protocol/client/index.ts';
import { CloseCode, ErrorCode, Op } from '../../protocol/opcodes.ts';
import { RawSocket } from '../support/raw-socket.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const PASSWORD = 'correct horse battery staple';
const OLD_SECRET = randomBytes(32).toString('hex');
const GRACE_MS = 300;

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sub: string; sid: string; exp: number };

/** Resolves the close code, or 'open' if the socket is still open after `ms`. */
async function closedWithin(raw: RawSocket, ms: number): Promise<number | 'open'> {
  return Promise.race([raw.closed.then((c) => c.code), sleep(ms).then(() => 'open' as const)]);
}

async function identifyCloses(server: TestServer, token: string): Promise<number> {
  const raw = await RawSocket.open(server.gatewayUrl);
  raw.send([Op.IDENTIFY, { token }]);
  const result = await closedWithin(raw, 3000);
  if (result === 'open') raw.close();
  return result === 'open' ? -1 : result;
}

async function httpStatus(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof GuildhallHttpError) return err.status;
    throw err;
  }
}

describe('session security (Postgres + Redis, over the wire)', () => {
  let server: TestServer;
  let n = 0;

  before(async () => {
    server = await startTestServer('services', {
      JWT_KID: 'k2',
      JWT_PREVIOUS_KEYS: `k1:${OLD_SECRET}`,
      REFRESH_REUSE_GRACE_MS: String(GRACE_MS),
      RESUME_WINDOW_MS: '60000',
    });
  });
  after(() => server?.dispose());

  async function account(): Promise<{ email: string; userId: string; login(client?: string): ReturnType<typeof auth.login> }> {
    const tag = `sec${process.pid % 1000}x${++n}${randomBytes(2).toString('hex')}`;
    const email = `${tag}@example.test`;
    const { user } = await auth.register(server.httpUrl, { email, password: PASSWORD, nickname: tag });
    return { email, userId: user.id, login: (client = 'test') => auth.login(server.httpUrl, { email, password: PASSWORD, client }) };
  }

  test('forged, none, wrong-algorithm, wrong-audience, wrong-issuer, unknown-kid and expired JWTs are refused at IDENTIFY', async () => {
    const acct = await account();
    const session = await acct.login();
    const { sub, sid } = claimsOf(session.accessToken);
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub, sid, iat: now, exp: now + 600, iss: 'guildhall', aud: 'guildhall-gateway' };
    const sign = (opts: { secret?: string; kid?: string; issuer?: string; audience?: string; clock?: { now(): number } }) =>
      new JwtCodec({
        keyring: { current: { kid: opts.kid ?? 'k2', secret: opts.secret ?? server.jwtSecret } },
        issuer: opts.issuer ?? 'guildhall', audience: opts.audience ?? 'guildhall-gateway', clock: opts.clock,
      }).sign({ sub, sid }, 60_000);
    const hs512 = (() => {
      const input = `${b64({ alg: 'HS512', typ: 'JWT', kid: 'k2' })}.${b64(claims)}`;
      return `${input}.${createHmac('sha512', server.jwtSecret).update(input).digest('base64url')}`;
    })();
    const attacks: Record<string, string> = {
      'forged (another key)': sign({ secret: 'x'.repeat(40) }),
      'alg none, no signature': `${b64({ alg: 'none', typ: 'JWT', kid: 'k2' })}.${b64(claims)}.`,
      'alg none, with a signature': `${b64({ alg: 'none', typ: 'JWT', kid: 'k2' })}.${b64(claims)}.${'A'.repeat(43)}`,
      'alg HS512 with a valid HS512 MAC': hs512,
      'wrong audience': sign({ audience: 'some-other-api' }),
      'wrong issuer': sign({ issuer: 'evil' }),
      'unknown kid': sign({ kid: 'k9' }),
      expired: sign({ clock: { now: () => Date.now() - 3600_000 } }),
      'payload swapped under a valid signature': (() => {
        const [h, , s] = session.accessToken.split('.');
        return `${h}.${b64({ ...claims, sub: '1' })}.${s}`;
      })(),
      garbage: 'not-a-jwt',
    };
    for (const [name, token] of Object.entries(attacks)) {
      assert.equal(await identifyCloses(server, token), CloseCode.AUTHENTICATION_FAILED, name);
    }
    // The genuine token still works, and so does one signed with the previous key (rotation).
    const ok = await RawSocket.identified(server.gatewayUrl, session.accessToken);
    ok.close();
    const rotated = sign({ secret: OLD_SECRET, kid: 'k1' });
    const viaOldKey = await RawSocket.identified(server.gatewayUrl, rotated);
    viaOldKey.close();
  });

  test('the token goes in IDENTIFY only: one in the URL is ignored', async () => {
    const acct = await account();
    const session = await acct.login();
    const raw = await RawSocket.open(`${server.gatewayUrl}?token=${session.accessToken}`);
    raw.send([Op.REQUEST, 1, 'guild.create', { name: 'x' }]);
    const err = await raw.next((f) => f[0] === Op.ERROR);
    assert.equal(err[2], ErrorCode.NOT_IDENTIFIED);
    raw.close();
  });

  test('refresh-token reuse: within the grace both refreshes succeed; later the old token revokes the session and kicks its sockets', async () => {
    const acct = await account();
    const s = await acct.login();
    const socket = await RawSocket.identified(server.gatewayUrl, s.accessToken);
    const [r1, r2] = await Promise.all([auth.refresh(server.httpUrl, s.refreshToken), auth.refresh(server.httpUrl, s.refreshToken)]);
    assert.equal(r1.refreshToken, r2.refreshToken, 'concurrent refreshes converge on one new token');
    assert.equal(await closedWithin(socket, 100), 'open');
    await sleep(GRACE_MS + 100);
    const started = Date.now();
    assert.equal(await httpStatus(auth.refresh(server.httpUrl, s.refreshToken)), 401);
    assert.equal(await closedWithin(socket, 1000), CloseCode.SESSION_REVOKED);
    assert.ok(Date.now() - started < 1000);
    assert.equal(await httpStatus(auth.refresh(server.httpUrl, r1.refreshToken)), 401, 'the thief and the victim are both logged out');
    assert.equal(await identifyCloses(server, r1.accessToken), CloseCode.AUTHENTICATION_FAILED);
  });

  test('revoking a session closes its sockets within a second, non-resumably, and its token stops working at once', async () => {
    const acct = await account();
    const a = await acct.login('laptop');
    const b = await acct.login('phone');
    const a1 = await RawSocket.identified(server.gatewayUrl, a.accessToken);
    const a2 = await RawSocket.identified(server.gatewayUrl, a.accessToken);
    const b1 = await RawSocket.identified(server.gatewayUrl, b.accessToken);

    const listed = await auth.sessions(server.httpUrl, b.accessToken);
    assert.deepEqual(listed.map((s) => [s.id, s.client, s.ip, s.current]).sort(), [
      [a.sessionId, 'laptop', '127.0.0.1', false], [b.sessionId, 'phone', '127.0.0.1', true],
    ].sort());
    for (const s of listed) assert.ok(s.createdAt > 0 && s.lastActiveAt >= s.createdAt);

    const started = Date.now();
    await auth.revokeSession(server.httpUrl, b.accessToken, a.sessionId);
    assert.equal(await closedWithin(a1, 1000), CloseCode.SESSION_REVOKED);
    assert.equal(await closedWithin(a2, 1000), CloseCode.SESSION_REVOKED);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1000, `sockets closed after ${elapsed} ms`);
    assert.equal(await closedWithin(b1, 200), 'open', 'the other session is untouched');
    assert.equal(await identifyCloses(server, a.accessToken), CloseCode.AUTHENTICATION_FAILED);
    assert.equal(await httpStatus(auth.sessions(server.httpUrl, a.accessToken)), 401);
    assert.equal(await httpStatus(auth.refresh(server.httpUrl, a.refreshToken)), 401);
    assert.deepEqual((await auth.sessions(server.httpUrl, b.accessToken)).map((s) => s.id), [b.sessionId]);
    b1.close();
  });

  test('a revoked session cannot be resumed', async () => {
    const acct = await account();
    const a = await acct.login();
    const b = await acct.login();
    const raw = await RawSocket.open(server.gatewayUrl);
    raw.send([Op.IDENTIFY, { token: a.accessToken }]);
    const ready = (await raw.next((f) => f[0] === Op.READY))[1] as { resumeId?: string };
    await auth.revokeSession(server.httpUrl, b.accessToken, a.sessionId);
    assert.equal(await closedWithin(raw, 1000), CloseCode.SESSION_REVOKED);
    assert.ok(ready.resumeId, 'READY offers a resumeId (RESUME_WINDOW_MS > 0)');
    // With the revoked session's token: authentication fails.
    const r1 = await RawSocket.open(server.gatewayUrl);
    r1.send([Op.RESUME, { resumeId: ready.resumeId, token: a.accessToken, streams: {} }]);
    assert.equal(await closedWithin(r1, 3000), CloseCode.AUTHENTICATION_FAILED);
    // Even with a live token of the same user, the gateway session ended with the revocation.
    const r2 = await RawSocket.open(server.gatewayUrl);
    r2.send([Op.RESUME, { resumeId: ready.resumeId, token: b.accessToken, streams: {} }]);
    const err = await r2.next((f) => f[0] === Op.ERROR);
    assert.equal(err[2], ErrorCode.INVALID_SESSION);
    r2.close();
  });

  test('revoke-others keeps the caller; revoke-all and logout end everything; sockets follow', async () => {
    const acct = await account();
    const [a, b, c] = [await acct.login(), await acct.login(), await acct.login()];
    const [sa, sb, sc] = await Promise.all([a, b, c].map((s) => RawSocket.identified(server.gatewayUrl, s.accessToken)));
    assert.deepEqual(await auth.revokeOtherSessions(server.httpUrl, b.accessToken), { revoked: 2 });
    assert.equal(await closedWithin(sa!, 1000), CloseCode.SESSION_REVOKED);
    assert.equal(await closedWithin(sc!, 1000), CloseCode.SESSION_REVOKED);
    assert.equal(await closedWithin(sb!, 100), 'open');
    assert.deepEqual(await auth.revokeAllSessions(server.httpUrl, b.accessToken), { revoked: 1 });
    assert.equal(await closedWithin(sb!, 1000), CloseCode.SESSION_REVOKED);
    assert.equal(await httpStatus(auth.sessions(server.httpUrl, b.accessToken)), 401);

    // Logout: by refresh token, or with the bearer token alone.
    const d = await acct.login();
    const e = await acct.login();
    const [sd, se] = await Promise.all([d, e].map((s) => RawSocket.identified(server.gatewayUrl, s.accessToken)));
    await auth.logout(server.httpUrl, d.refreshToken);
    assert.equal(await closedWithin(sd!, 1000), CloseCode.SESSION_REVOKED);
    const res = await fetch(`${server.httpUrl}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${e.accessToken}` } });
    assert.equal(res.status, 204);
    assert.equal(await closedWithin(se!, 1000), CloseCode.SESSION_REVOKED);
  });

  test('password change ends the other sessions and their sockets', async () => {
    const acct = await account();
    const a = await acct.login();
    const b = await acct.login();
    const [sa, sb] = await Promise.all([a, b].map((s) => RawSocket.identified(server.gatewayUrl, s.accessToken)));
    const wrong = await auth.changePassword(server.httpUrl, a.accessToken, { currentPassword: 'nope nope nope', newPassword: 'another long password' })
      .catch((e: unknown) => e);
    assert.ok(wrong instanceof GuildhallHttpError && wrong.status === 403 && wrong.code === ErrorCode.INVALID_CREDENTIALS);
    await auth.changePassword(server.httpUrl, a.accessToken, { currentPassword: PASSWORD, newPassword: 'another long password' });
    assert.equal(await closedWithin(sb!, 1000), CloseCode.SESSION_REVOKED);
    assert.equal(await closedWithin(sa!, 200), 'open');
    sa!.close();
    assert.equal(await httpStatus(acct.login()), 401);
    await auth.login(server.httpUrl, { email: acct.email, password: 'another long password' });
  });

  test('session routes: bearer required, only your own sessions', async () => {
    const alice = await account();
    const bob = await account();
    const a = await alice.login();
    const b = await bob.login();
    const res = await fetch(`${server.httpUrl}/auth/sessions`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await res.json() as { error: { code: number } }).error.code, ErrorCode.AUTH_FAILED);
    const stolen = await auth.revokeSession(server.httpUrl, a.accessToken, b.sessionId).catch((e: unknown) => e);
    assert.ok(stolen instanceof GuildhallHttpError && stolen.status === 404 && stolen.code === ErrorCode.UNKNOWN_SESSION);
    assert.equal(await httpStatus(auth.revokeSession(server.httpUrl, a.accessToken, 'not-an-id')), 404);
    assert.equal((await auth.sessions(server.httpUrl, b.accessToken)).length, 1, "bob's session survived");
  });
});
