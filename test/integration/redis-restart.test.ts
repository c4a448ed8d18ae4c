/**
 * Losing Redis never makes a revoked session or a superseded refresh token valid again: the
 * database holds the truth, Redis only a cache. This test really stops the machine's Redis
 * (`redis-cli shutdown nosave`, so its data is gone), checks the server while Redis is down, starts
 * Redis again empty, and checks again. Redis is always restarted, even when an assertion fails.
 * Skipped, with a message, without redis-cli/redis-server or when the tests use a remote Redis.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { auth, GuildhallHttpError } from '../../protocol/client/index.ts';
import { CloseCode, Op } from '../../protocol/opcodes.ts';
import { RawSocket } from '../support/raw-socket.ts';
import { redisOutageSkipReason, startRedis, stopRedis } from '../support/services.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const PASSWORD = 'correct horse battery staple';
const GRACE_MS = 200;

const skip = await redisOutageSkipReason();
if (skip) console.warn(`[redis-restart.test] SKIPPED: ${skip}`);

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof GuildhallHttpError) return err.status;
    throw err;
  }
}

/** The close code IDENTIFY with `token` ends in, or 0 when READY arrives. */
async function identify(server: TestServer, token: string): Promise<number> {
  const raw = await RawSocket.open(server.gatewayUrl);
  raw.send([Op.IDENTIFY, { token }]);
  const outcome = await Promise.race([
    raw.next((f) => f[0] === Op.READY, 8000).then(() => 0, () => -1),
    raw.closed.then((c) => c.code),
  ]);
  raw.close();
  return outcome;
}

describe('Redis restart (Postgres is the source of truth)', { skip }, () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer('services', { REFRESH_REUSE_GRACE_MS: String(GRACE_MS), SESSION_CACHE_TTL_SEC: '900' });
  });
  after(async () => {
    await startRedis(); // whatever happened above
    await server?.dispose();
  });

  test('revoked sessions and superseded refresh tokens stay dead while Redis is down and after it restarts empty', async () => {
    const tag = `rr${randomBytes(4).toString('hex')}`;
    const email = `${tag}@example.test`;
    await auth.register(server.httpUrl, { email, password: PASSWORD, nickname: tag });
    const login = () => auth.login(server.httpUrl, { email, password: PASSWORD });
    const [revoked, live, rotated] = [await login(), await login(), await login()];

    // Warm the cache: every session is "live" in Redis now.
    for (const s of [revoked, live, rotated]) assert.equal(await identify(server, s.accessToken), 0);
    await auth.revokeSession(server.httpUrl, live.accessToken, revoked.sessionId);
    const newer = await auth.refresh(server.httpUrl, rotated.refreshToken);
    await sleep(GRACE_MS + 50);

    try {
      await stopRedis();
      // Redis down: checks fall back to the database.
      assert.equal(await identify(server, revoked.accessToken), CloseCode.AUTHENTICATION_FAILED, 'revoked session, Redis down');
      // The live session passes authentication from the database. (READY itself may still fail for
      // features that need Redis, e.g. presence; that is not an authentication verdict.)
      const liveWhileDown = await identify(server, live.accessToken);
      assert.notEqual(liveWhileDown, CloseCode.AUTHENTICATION_FAILED, 'live session, Redis down');
      if (liveWhileDown !== 0) console.warn(`[redis-restart.test] READY with Redis down ended with close ${liveWhileDown}`);
      assert.equal(await status(auth.refresh(server.httpUrl, revoked.refreshToken)), 401);
    } finally {
      await startRedis();
    }

    // Redis is back, empty: nothing cached says "revoked" any more, and nothing must come back to life.
    assert.equal(await identify(server, revoked.accessToken), CloseCode.AUTHENTICATION_FAILED, 'revoked session after restart');
    assert.equal(await status(auth.refresh(server.httpUrl, revoked.refreshToken)), 401, 'revoked session refresh after restart');
    assert.equal(await identify(server, live.accessToken), 0, 'live session after restart');
    const liveAgain = await auth.refresh(server.httpUrl, live.refreshToken);
    assert.equal(liveAgain.sessionId, live.sessionId);

    // The superseded token is still recognised as reuse: refused, and it revokes its session.
    assert.equal(await status(auth.refresh(server.httpUrl, rotated.refreshToken)), 401, 'superseded refresh token after restart');
    assert.equal(await status(auth.refresh(server.httpUrl, newer.refreshToken)), 401, 'reuse revoked the whole session');
    assert.equal(await identify(server, newer.accessToken), CloseCode.AUTHENTICATION_FAILED);
  });
});
