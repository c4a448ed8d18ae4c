/**
 * Email confirmation and password reset end to end over HTTP, against Postgres and Redis, reading
 * the links from the development mailer — with REQUIRE_EMAIL_CONFIRMATION on, so that unconfirmed
 * accounts cannot log in. Also: answers that must not reveal whether an address has an account.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { linksIn, type MailMessage } from '../../engine/mail/mailer.ts';
import { auth, GuildhallHttpError } from '../../protocol/client/index.ts';
import { CloseCode, ErrorCode } from '../../protocol/opcodes.ts';
import { RawSocket } from '../support/raw-socket.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const PASSWORD = 'correct horse battery staple';

function tokenFrom(mail: MailMessage, page: string): string {
  const link = linksIn(mail.text).find((l) => l.includes(`/${page}#token=`));
  assert.ok(link, `a /${page} link in: ${mail.text}`);
  assert.ok(link.startsWith('https://app.example.test/'), link);
  return link.split('#token=')[1]!;
}

async function failure(p: Promise<unknown>): Promise<GuildhallHttpError> {
  const err = await p.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof GuildhallHttpError, `expected an HTTP error, got ${String(err)}`);
  return err;
}

describe('account flows (Postgres + Redis, development mailer)', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer('services', { REQUIRE_EMAIL_CONFIRMATION: 'true', APP_URL: 'https://app.example.test' });
  });
  after(() => server?.dispose());

  const fresh = () => {
    const nickname = `af${randomBytes(5).toString('hex')}`;
    return { email: `${nickname}@example.test`, nickname, password: PASSWORD };
  };
  const mailTo = (email: string, subject: RegExp) => server.mailer.take((m) => m.to === email && subject.test(m.subject));

  test('register → confirmation mail → confirm → login; unconfirmed logins are refused only after the password checks out', async () => {
    const acct = fresh();
    const { user } = await auth.register(server.httpUrl, acct);
    assert.equal(user.emailConfirmed, false);
    const mail = await mailTo(acct.email, /confirm/i);

    const wrong = await failure(auth.login(server.httpUrl, { ...acct, password: 'wrong password!' }));
    assert.deepEqual([wrong.status, wrong.code], [401, ErrorCode.INVALID_CREDENTIALS]);
    const unconfirmed = await failure(auth.login(server.httpUrl, acct));
    assert.deepEqual([unconfirmed.status, unconfirmed.code], [403, ErrorCode.EMAIL_NOT_CONFIRMED]);

    await auth.confirmEmail(server.httpUrl, tokenFrom(mail, 'confirm-email'));
    const session = await auth.login(server.httpUrl, acct);
    assert.equal(session.user.emailConfirmed, true);

    const reused = await failure(auth.confirmEmail(server.httpUrl, tokenFrom(mail, 'confirm-email')));
    assert.deepEqual([reused.status, reused.code, reused.details.field], [400, ErrorCode.INVALID_EMAIL_TOKEN, 'token']);
    const forged = await failure(auth.confirmEmail(server.httpUrl, randomBytes(32).toString('base64url')));
    assert.equal(forged.code, ErrorCode.INVALID_EMAIL_TOKEN);
  });

  test('resend: a new link replaces the old one; the answer is the same for unknown addresses', async () => {
    const acct = fresh();
    await auth.register(server.httpUrl, acct);
    const first = await mailTo(acct.email, /confirm/i);
    const known = await fetch(`${server.httpUrl}/auth/confirm/resend`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: acct.email }) });
    const unknownEmail = `nobody${randomBytes(4).toString('hex')}@example.test`;
    const unknown = await fetch(`${server.httpUrl}/auth/confirm/resend`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: unknownEmail }) });
    assert.deepEqual([known.status, await known.text()], [unknown.status, await unknown.text()]);
    assert.equal(known.status, 202);
    const second = await mailTo(acct.email, /confirm/i);
    assert.equal((await failure(auth.confirmEmail(server.httpUrl, tokenFrom(first, 'confirm-email')))).code, ErrorCode.INVALID_EMAIL_TOKEN);
    await auth.confirmEmail(server.httpUrl, tokenFrom(second, 'confirm-email'));
    await sleep(100);
    assert.equal(server.mailer.sent.filter((m) => m.to === unknownEmail).length, 0, 'no mail to an address without an account');
  });

  test('password reset: same answer for unknown addresses, link works once, every session and socket ends', async () => {
    const acct = fresh();
    await auth.register(server.httpUrl, acct);
    await auth.confirmEmail(server.httpUrl, tokenFrom(await mailTo(acct.email, /confirm/i), 'confirm-email'));
    const a = await auth.login(server.httpUrl, acct);
    const b = await auth.login(server.httpUrl, acct);
    const sockets = await Promise.all([a, b].map((s) => RawSocket.identified(server.gatewayUrl, s.accessToken)));

    const unknownEmail = `nobody${randomBytes(4).toString('hex')}@example.test`;
    const ask = (email: string) => fetch(`${server.httpUrl}/auth/password/reset-request`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email }),
    });
    const [known, unknown] = await Promise.all([ask(acct.email), ask(unknownEmail)]);
    assert.deepEqual([known.status, await known.text()], [unknown.status, await unknown.text()]);
    assert.equal(known.status, 202);
    const mail = await mailTo(acct.email, /reset/i);
    const token = tokenFrom(mail, 'reset-password');

    const weak = await failure(auth.resetPassword(server.httpUrl, token, 'short'));
    assert.deepEqual([weak.status, weak.code, weak.details.field], [400, ErrorCode.INVALID_PAYLOAD, 'password']);
    await auth.resetPassword(server.httpUrl, token, 'a completely new password');
    for (const s of sockets) assert.equal((await s.closed).code, CloseCode.SESSION_REVOKED);
    assert.equal((await failure(auth.refresh(server.httpUrl, a.refreshToken))).status, 401);
    assert.equal((await failure(auth.sessions(server.httpUrl, b.accessToken))).status, 401);
    assert.equal((await failure(auth.resetPassword(server.httpUrl, token, 'yet another new password'))).code, ErrorCode.INVALID_EMAIL_TOKEN);
    assert.equal((await failure(auth.login(server.httpUrl, acct))).code, ErrorCode.INVALID_CREDENTIALS);
    await auth.login(server.httpUrl, { email: acct.email, password: 'a completely new password' });
    await sleep(100);
    assert.equal(server.mailer.sent.filter((m) => m.to === unknownEmail).length, 0);
  });

  test('a reset link also confirms the address (it was delivered there)', async () => {
    const acct = fresh();
    await auth.register(server.httpUrl, acct);
    await mailTo(acct.email, /confirm/i);
    await auth.requestPasswordReset(server.httpUrl, acct.email);
    await auth.resetPassword(server.httpUrl, tokenFrom(await mailTo(acct.email, /reset/i), 'reset-password'), 'fresh password 42');
    const s = await auth.login(server.httpUrl, { email: acct.email, password: 'fresh password 42' });
    assert.equal(s.user.emailConfirmed, true);
  });

  test('malformed input is a 400 naming the field', async () => {
    const err = await failure(auth.requestPasswordReset(server.httpUrl, 'not-an-address'));
    assert.deepEqual([err.status, err.code, err.details.field], [400, ErrorCode.INVALID_PAYLOAD, 'email']);
    const res = await fetch(`${server.httpUrl}/auth/confirm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"token": 5}' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { field: string } }).error.field, 'token');
  });
});
