/**
 * Outages of the machine's real Postgres and Redis, a few seconds each, always restarted in a
 * `finally` (other test runs may share them). While Postgres is down, commands that need it fail
 * with UNAVAILABLE (retryable) — while it is still down, so they do not hang — and new sessions are
 * refused with 1013 (reconnect later); nothing acknowledged is lost, and the server recovers by
 * itself. While Redis is down, what does not need it keeps working, and nothing hangs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { CloseCode, ErrorCode, Method } from '../../protocol/opcodes.ts';
import { ConnectionClosedError, GuildhallClient, GuildhallError } from '../../protocol/client/index.ts';
import type { Guild } from '../../protocol/types.ts';
import { postgresOutageSkipReason, redisOutageSkipReason, startPostgres, startRedis, stopPostgres, stopRedis } from '../support/services.ts';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/test-server.ts';

const pgSkip = await postgresOutageSkipReason();
const redisSkip = await redisOutageSkipReason();
if (pgSkip) console.warn(`[outages.test] Postgres outage SKIPPED: ${pgSkip}`);
if (redisSkip) console.warn(`[outages.test] Redis outage SKIPPED: ${redisSkip}`);

interface Outcome {
  at: number;
  ms: number;
  ok: boolean;
  id?: string;
  code?: number;
}

/** Sends messages one after another until stopped, recording every outcome. */
function sendLoop(client: GuildhallClient, guild: Guild, tag: string) {
  const outcomes: Outcome[] = [];
  let running = true;
  const done = (async () => {
    for (let i = 0; running; i++) {
      const start = Date.now();
      try {
        const m = await client.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId: guild.channels[0]!.id, content: `${tag} ${i}`, nonce: `${tag}-${i}` });
        outcomes.push({ at: Date.now(), ms: Date.now() - start, ok: true, id: m.id });
      } catch (err) {
        if (!(err instanceof GuildhallError)) throw err;
        outcomes.push({ at: Date.now(), ms: Date.now() - start, ok: false, code: err.code });
        await sleep(20);
      }
    }
  })();
  return { outcomes, stop: async () => ((running = false), await done) };
}

async function storedIds(url: string): Promise<Set<string>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return new Set((await c.query<{ id: string }>('select id::text from messages')).rows.map((r) => r.id));
  } finally {
    await c.end();
  }
}

describe('Postgres outage', { skip: pgSkip, timeout: 120_000 }, () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let a: GuildhallClient;
  let b: GuildhallClient;
  let guild: Guild;

  before(async () => {
    server = await startTestServer('services');
    [alice, bob] = await Promise.all([signUp(server, 'alice'), signUp(server, 'bob')]);
    [a, b] = await Promise.all([alice.connect(), bob.connect()]);
    guild = await a.request(Method.GUILD_CREATE, { name: 'Outage' });
    const invite = await a.request(Method.INVITE_CREATE, { guildId: guild.id });
    await b.request(Method.INVITE_JOIN, { code: invite.code });
  });

  after(async () => {
    await startPostgres();
    await Promise.all([a?.close(), b?.close()]);
    await server?.dispose();
  });

  test('commands fail with UNAVAILABLE while it is down, nothing acked is lost, service recovers by itself', async () => {
    const load = sendLoop(b, guild, 'outage');
    await sleep(300);
    let stoppedAt = 0;
    let restartedAt = 0;
    let identifyWhileDown: unknown = null;
    let historyWhileDown: unknown = null;
    try {
      await stopPostgres();
      stoppedAt = Date.now();
      await sleep(300);
      // A new session needs Postgres for READY: refused with 1013, "try again later".
      identifyWhileDown = await alice.connect().then((c) => (c.close(), 'READY'), (e: unknown) => e);
      // History of a channel whose page is not cached goes to Postgres.
      const quiet = await a.request(Method.DM_OPEN, { userId: bob.user.id }).catch((e: unknown) => e);
      historyWhileDown = quiet instanceof GuildhallError ? quiet : await a.request(Method.DM_HISTORY, { dmId: (quiet as { id: string }).id }).catch((e: unknown) => e);
      await sleep(1500);
    } finally {
      await startPostgres();
      restartedAt = Date.now();
    }
    // Recovery without intervention: sends succeed again shortly after Postgres is back.
    const deadline = Date.now() + 30_000;
    while (!load.outcomes.some((o) => o.ok && o.at > restartedAt) && Date.now() < deadline) await sleep(50);
    await sleep(300);
    await load.stop();

    const failures = load.outcomes.filter((o) => !o.ok);
    const duringOutage = failures.filter((o) => o.at > stoppedAt && o.at < restartedAt);
    assert.ok(duringOutage.length > 0, 'commands failed while Postgres was still down (they did not wait for it)');
    for (const f of failures) assert.equal(f.code, ErrorCode.UNAVAILABLE, `failure code ${f.code}`);
    assert.ok(new GuildhallError(ErrorCode.UNAVAILABLE, '').retryable);
    assert.ok(load.outcomes.some((o) => o.ok && o.at > restartedAt), 'sends succeed again after Postgres is back');
    assert.ok(identifyWhileDown instanceof ConnectionClosedError && identifyWhileDown.code === CloseCode.TRY_AGAIN_LATER, `IDENTIFY while down: ${String(identifyWhileDown)}`);
    assert.ok(historyWhileDown instanceof GuildhallError && historyWhileDown.code === ErrorCode.UNAVAILABLE, `history while down: ${String(historyWhileDown)}`);

    const stored = await storedIds(server.databaseUrl!);
    const acked = load.outcomes.filter((o) => o.ok);
    for (const o of acked) assert.ok(stored.has(o.id!), `acked message ${o.id} lost`);
    const again = await alice.connect();
    await again.close();
    const slowest = Math.max(...duringOutage.map((o) => o.ms));
    process.stdout.write(
      `# Postgres outage ${restartedAt - stoppedAt} ms: ${acked.length} acked (all stored), ${failures.length} UNAVAILABLE (slowest ${slowest} ms), ` +
        `first success ${Math.min(...acked.filter((o) => o.at > restartedAt).map((o) => o.at - restartedAt))} ms after restart\n`,
    );
  });
});

describe('Redis outage', { skip: redisSkip, timeout: 120_000 }, () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let a: GuildhallClient;
  let b: GuildhallClient;
  let guild: Guild;

  before(async () => {
    // Rate limits on (with generous rates): their buckets live in Redis, as in production.
    server = await startTestServer('services', { RATE_LIMITS_ENABLED: 'true', RATE_LIMIT_MESSAGES: '100000/s', RATE_LIMIT_SOCKET_COMMANDS: '100000/s' });
    [alice, bob] = await Promise.all([signUp(server, 'alice'), signUp(server, 'bob')]);
    [a, b] = await Promise.all([alice.connect(), bob.connect()]);
    guild = await a.request(Method.GUILD_CREATE, { name: 'Redis Outage' });
    const invite = await a.request(Method.INVITE_CREATE, { guildId: guild.id });
    await b.request(Method.INVITE_JOIN, { code: invite.code });
  });

  after(async () => {
    await startRedis();
    await Promise.all([a?.close(), b?.close()]);
    await server?.dispose();
  });

  test('messaging (rate limits included) goes on without Redis; new sessions either start or are told to retry, never hang', async () => {
    const load = sendLoop(b, guild, 'redis-outage');
    let stoppedAt = 0;
    let restartedAt = 0;
    let identify: { outcome: unknown; ms: number } | null = null;
    try {
      await stopRedis();
      stoppedAt = Date.now();
      const t = Date.now();
      const outcome = await alice.connect().then((c) => (c.close(), 'READY'), (e: unknown) => e);
      identify = { outcome, ms: Date.now() - t };
      await sleep(1000);
    } finally {
      await startRedis();
      restartedAt = Date.now();
    }
    await sleep(500);
    await load.stop();
    const during = load.outcomes.filter((o) => o.at > stoppedAt && o.at < restartedAt);
    assert.ok(during.length > 0 && during.every((o) => o.ok), `sends while Redis was down: ${JSON.stringify(during.filter((o) => !o.ok).slice(0, 3))}`);
    assert.ok(identify && (identify.outcome === 'READY' || (identify.outcome instanceof ConnectionClosedError && identify.outcome.code === CloseCode.TRY_AGAIN_LATER)), `IDENTIFY while down: ${String(identify?.outcome)}`);
    const stored = await storedIds(server.databaseUrl!);
    for (const o of load.outcomes.filter((x) => x.ok)) assert.ok(stored.has(o.id!));
    const again = await alice.connect();
    await again.close();
    process.stdout.write(`# Redis outage ${restartedAt - stoppedAt} ms: ${during.length} sends during it all acked; IDENTIFY took ${identify!.ms} ms → ${identify!.outcome instanceof Error ? identify!.outcome.message : identify!.outcome}\n`);
  });
});
