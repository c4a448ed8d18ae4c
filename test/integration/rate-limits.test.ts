/**
 * Rate limits over the wire, against Postgres and Redis (Lua token buckets): login per IP and per
 * account, register per IP, refresh per session, emailed links per address and per IP (HTTP 429 +
 * Retry-After), socket commands per connection (ERROR RATE_LIMITED, then close RATE_LIMITED for a
 * flood), messages per user per channel — and exactness: 50 parallel attempts at limit−1 let
 * exactly one through. The server trusts X-Forwarded-For from 127.0.0.1 here, so each request can
 * play a different client address (which also exercises TRUSTED_PROXIES).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { GuildhallClient, GuildhallError } from '../../protocol/client/index.ts';
import { CloseCode, ErrorCode, Method, Op } from '../../protocol/opcodes.ts';
import { RawSocket } from '../support/raw-socket.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const PASSWORD = 'correct horse battery staple';

interface HttpResult { status: number; retryAfter: string | null; body: { error?: { code: number; retryAfterMs?: number } } & Record<string, unknown> }

let ipSeq = 0;
/** A fresh client address for every call (203.0.113.x / 198.51.100.x are documentation ranges). */
const newIp = () => `198.51.${100 + Math.floor(++ipSeq / 250)}.${(ipSeq % 250) + 1}`;

describe('rate limits (Postgres + Redis, over the wire)', () => {
  let server: TestServer;
  let tagSeq = 0;

  before(async () => {
    server = await startTestServer('services', {
      RATE_LIMITS_ENABLED: 'true',
      TRUSTED_PROXIES: '127.0.0.1,::1',
      RATE_LIMIT_LOGIN_IP: '10/h',
      RATE_LIMIT_LOGIN_ACCOUNT: '5/h',
      RATE_LIMIT_REGISTER_IP: '3/h',
      RATE_LIMIT_REFRESH_SESSION: '3/h',
      RATE_LIMIT_EMAIL_ACCOUNT: '2/h',
      RATE_LIMIT_EMAIL_IP: '4/h',
      RATE_LIMIT_SOCKET_COMMANDS: '5/s:10',
      SOCKET_FLOOD_CLOSE_AFTER: '20',
      RATE_LIMIT_MESSAGES: '3/m',
    });
  });
  after(() => server?.dispose());

  async function post(path: string, body: unknown, ip = newIp()): Promise<HttpResult> {
    const res = await fetch(`${server.httpUrl}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: text ? JSON.parse(text) : {} };
  }

  function assertLimited(r: HttpResult): void {
    assert.equal(r.status, 429);
    assert.match(r.retryAfter ?? '', /^[1-9][0-9]*$/, 'Retry-After in whole seconds');
    assert.equal(r.body.error?.code, ErrorCode.RATE_LIMITED);
    assert.ok((r.body.error?.retryAfterMs ?? 0) > 0);
  }

  async function newAccount(): Promise<{ email: string; nickname: string }> {
    const nickname = `rl${process.pid % 1000}x${++tagSeq}${randomBytes(2).toString('hex')}`;
    const email = `${nickname}@example.test`;
    assert.equal((await post('/auth/register', { email, password: PASSWORD, nickname })).status, 201);
    return { email, nickname };
  }

  async function login(email: string): Promise<{ accessToken: string; refreshToken: string }> {
    const r = await post('/auth/login', { email, password: PASSWORD });
    assert.equal(r.status, 200);
    return r.body as unknown as { accessToken: string; refreshToken: string };
  }

  test('login per account: 50 parallel attempts at limit-1 let exactly one through; the rest get 429 + Retry-After', async () => {
    const { email } = await newAccount();
    for (let i = 0; i < 4; i++) assert.equal((await post('/auth/login', { email, password: 'wrong password!' })).status, 401);
    const results = await Promise.all(Array.from({ length: 50 }, () => post('/auth/login', { email, password: PASSWORD })));
    const through = results.filter((r) => r.status !== 429);
    assert.equal(through.length, 1);
    assert.equal(through[0]!.status, 200);
    for (const r of results.filter((x) => x.status === 429)) assertLimited(r);
    // The same budget applies to an address nobody registered: nothing to learn from the limit.
    const ghost = `ghost${randomBytes(4).toString('hex')}@example.test`;
    const ghostStatuses = [];
    for (let i = 0; i < 6; i++) ghostStatuses.push((await post('/auth/login', { email: ghost, password: PASSWORD })).status);
    assert.deepEqual(ghostStatuses, [401, 401, 401, 401, 401, 429]);
  });

  test('login per IP, and X-Forwarded-For only counts behind a trusted proxy', async () => {
    const ip = newIp();
    for (let i = 0; i < 10; i++) {
      assert.equal((await post('/auth/login', { email: `nobody${i}${randomBytes(3).toString('hex')}@example.test`, password: PASSWORD }, ip)).status, 401);
    }
    assertLimited(await post('/auth/login', { email: `x${randomBytes(3).toString('hex')}@example.test`, password: PASSWORD }, ip));
    assert.equal((await post('/auth/login', { email: `y${randomBytes(3).toString('hex')}@example.test`, password: PASSWORD })).status, 401, 'another address is not limited');
    // A client-supplied entry left of the trusted proxy's is not believed.
    assertLimited(await post('/auth/login', { email: `z${randomBytes(3).toString('hex')}@example.test`, password: PASSWORD }, `1.2.3.4, ${ip}`));
  });

  test('register per IP', async () => {
    const ip = newIp();
    for (let i = 0; i < 3; i++) {
      const nickname = `rg${randomBytes(5).toString('hex')}`;
      assert.equal((await post('/auth/register', { email: `${nickname}@example.test`, password: PASSWORD, nickname }, ip)).status, 201);
    }
    const nickname = `rg${randomBytes(5).toString('hex')}`;
    assertLimited(await post('/auth/register', { email: `${nickname}@example.test`, password: PASSWORD, nickname }, ip));
  });

  test('refresh per session', async () => {
    const { email } = await newAccount();
    const a = await login(email);
    const b = await login(email);
    let token = a.refreshToken;
    for (let i = 0; i < 3; i++) {
      const r = await post('/auth/refresh', { refreshToken: token });
      assert.equal(r.status, 200);
      token = r.body.refreshToken as string;
    }
    assertLimited(await post('/auth/refresh', { refreshToken: token }));
    assert.equal((await post('/auth/refresh', { refreshToken: b.refreshToken })).status, 200, 'other sessions have their own budget');
  });

  test('emailed links per address and per IP', async () => {
    const { email } = await newAccount();
    assert.equal((await post('/auth/password/reset-request', { email })).status, 202);
    assert.equal((await post('/auth/password/reset-request', { email })).status, 202);
    assertLimited(await post('/auth/password/reset-request', { email: email.toUpperCase() }));
    const ip = newIp();
    for (let i = 0; i < 4; i++) {
      assert.equal((await post('/auth/confirm/resend', { email: `n${i}${randomBytes(3).toString('hex')}@example.test` }, ip)).status, 202);
    }
    assertLimited(await post('/auth/password/reset-request', { email: `n${randomBytes(3).toString('hex')}@example.test` }, ip));
  });

  test('socket commands per connection: ERROR RATE_LIMITED with retryAfterMs, a flood is closed with RATE_LIMITED', async () => {
    const { email } = await newAccount();
    const { accessToken } = await login(email);
    const raw = await RawSocket.identified(server.gatewayUrl, accessToken);
    const other = await RawSocket.identified(server.gatewayUrl, accessToken);
    for (let ref = 1; ref <= 11; ref++) raw.send([Op.REQUEST, ref, 'no.such.method', {}]);
    for (let ref = 1; ref <= 10; ref++) {
      const f = await raw.next((x) => x[0] === Op.ERROR && x[1] === ref);
      assert.equal(f[2], ErrorCode.UNKNOWN_METHOD, `command ${ref} is within the burst`);
    }
    const limited = await raw.next((x) => x[0] === Op.ERROR && x[1] === 11);
    assert.equal(limited[2], ErrorCode.RATE_LIMITED);
    const retryAfterMs = (limited[4] as { retryAfterMs: number }).retryAfterMs;
    assert.ok(retryAfterMs > 0 && retryAfterMs <= 200, `retryAfterMs ${retryAfterMs}`);
    // The other connection has its own budget.
    other.send([Op.REQUEST, 1, 'no.such.method', {}]);
    assert.equal((await other.next((x) => x[0] === Op.ERROR && x[1] === 1))[2], ErrorCode.UNKNOWN_METHOD);
    // Keep sending while refused: closed.
    for (let ref = 12; ref < 60; ref++) raw.send([Op.REQUEST, ref, 'no.such.method', {}]);
    assert.equal((await raw.closed).code, CloseCode.RATE_LIMITED);
    other.close();
  });

  test('messages per user per channel: exact under concurrency across connections; other channels and users are separate', async () => {
    const owner = await newAccount();
    const friend = await newAccount();
    const ownerToken = (await login(owner.email)).accessToken;
    const friendToken = (await login(friend.email)).accessToken;
    const main = await GuildhallClient.connect({ url: server.gatewayUrl, token: ownerToken });
    const tabs = await Promise.all(Array.from({ length: 5 }, () => GuildhallClient.connect({ url: server.gatewayUrl, token: ownerToken })));
    const friendClient = await GuildhallClient.connect({ url: server.gatewayUrl, token: friendToken });
    try {
      const guild = await main.request(Method.GUILD_CREATE, { name: 'Rate limits' });
      const channelId = guild.channels[0]!.id;
      const other = await main.request(Method.CHANNEL_CREATE, { guildId: guild.id, name: 'other' });
      const invite = await main.request(Method.INVITE_CREATE, { guildId: guild.id });
      await friendClient.request(Method.INVITE_JOIN, { code: invite.code });
      const send = (c: GuildhallClient, ch: string, content: string) => c.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId: ch, content });
      await send(main, channelId, 'one');
      await send(main, channelId, 'two');
      // 50 at once from 5 connections (10 each, within each connection's burst).
      const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => send(tabs[i % 5]!, channelId, `burst ${i}`)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) {
        if (r.status === 'rejected') {
          assert.ok(r.reason instanceof GuildhallError && r.reason.code === ErrorCode.RATE_LIMITED, String(r.reason));
          assert.ok((r.reason.details as { retryAfterMs: number }).retryAfterMs > 0);
          assert.equal(r.reason.retryable, true);
        }
      }
      await send(main, other.id, 'another channel is fine');
      await send(friendClient, channelId, 'another user is fine');
    } finally {
      await Promise.all([main, friendClient, ...tabs].map((c) => c.close()));
    }
  });
});
