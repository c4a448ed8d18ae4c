/**
 * Presence across two server processes' worth of nodes sharing Postgres and Redis: one node reads
 * the presence another wrote (READY), and when a node stops, a surviving node's janitor turns its
 * users offline (after the grace period) unless they reconnected.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../engine/config/config.ts';
import { startServer, type RunningServer } from '../../engine/server.ts';
import { auth, GuildhallClient } from '../../protocol/client/index.ts';
import { EventType, Method, RelationshipType } from '../../protocol/opcodes.ts';
import { MEMORY_DATA_DIR } from '../../storage/database.ts';
import { freshPostgres } from '../support/databases.ts';
import { REDIS_URL } from '../support/test-server.ts';

const PASSWORD = 'correct horse battery staple';

describe('presence across nodes (Postgres + Redis)', () => {
  let db: Awaited<ReturnType<typeof freshPostgres>>;
  let nodeA: RunningServer;
  let nodeB: RunningServer;
  const clients: GuildhallClient[] = [];

  const start = (jwtSecret: string, nodeId: number) =>
    startServer(loadConfig({
      HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: process.env.GUILDHALL_TEST_LOG ?? 'silent', DATA_DIR: MEMORY_DATA_DIR,
      JWT_SECRET: jwtSecret, DATABASE_URL: db.url, REDIS_URL, RATE_LIMITS_ENABLED: 'false',
      PRESENCE_GRACE_MS: '300', PRESENCE_HEARTBEAT_MS: '200', NODE_ID: String(nodeId),
    }), { logger: pino({ level: 'silent' }) });

  async function user(server: RunningServer, prefix: string) {
    const nickname = `${prefix}${randomBytes(4).toString('hex')}`;
    const email = `${nickname}@example.test`;
    await auth.register(server.httpUrl, { email, password: PASSWORD, nickname });
    const tokens = await auth.login(server.httpUrl, { email, password: PASSWORD });
    return { id: tokens.user.id, token: tokens.accessToken };
  }
  const connect = async (server: RunningServer, token: string) => {
    // No automatic reconnect (node A goes away on purpose); a variable, so SDKs without the option accept it too.
    const opts = { url: server.gatewayUrl, token, reconnect: false };
    const c = await GuildhallClient.connect(opts);
    clients.push(c);
    return c;
  };

  before(async () => {
    db = await freshPostgres();
    const secret = randomBytes(32).toString('hex');
    nodeA = await start(secret, 101);
    nodeB = await start(secret, 102);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await nodeB?.close();
    await nodeA?.close();
    await db?.drop();
  });

  test('READY on one node carries presence written by the other; a stopped node\'s users go offline', async () => {
    const bob = await user(nodeA, 'nbob');
    const alice = await user(nodeB, 'nalice');
    const bobOnA = await connect(nodeA, bob.token);
    const aliceOnB = await connect(nodeB, alice.token);
    await bobOnA.request(Method.RELATIONSHIP_REQUEST, { userId: alice.id });
    // The relationship lives in Postgres: alice's node sees it when she asks.
    await aliceOnB.request(Method.RELATIONSHIP_ACCEPT, { userId: bob.id });
    assert.equal((await bobOnA.request(Method.RELATIONSHIP_LIST, {}))[0]?.type, RelationshipType.FRIEND);
    await bobOnA.request(Method.PRESENCE_SET, { status: 'dnd', customStatus: 'on node A' });

    const alice2 = await connect(nodeB, alice.token);
    assert.deepEqual(alice2.ready!.presences.find((p) => p.userId === bob.id), { userId: bob.id, status: 'dnd', customStatus: 'on node A' });

    // Node A stops (its sockets close without presence updates, its heartbeat is gone): node B's
    // janitor has bob's presence recomputed there — offline after the grace period.
    const offline = alice2.waitFor(EventType.PRESENCE_UPDATE, (p) => p.userId === bob.id && p.status === 'offline', 5000);
    await nodeA.close();
    await offline;
    const alice3 = await connect(nodeB, alice.token);
    assert.equal(alice3.ready!.presences.find((p) => p.userId === bob.id), undefined);
  });
});
