/**
 * Crash safety with the real server as a child process on Postgres and Redis:
 *
 * - SIGKILL under load: clients send continuously across many channels; the server is killed and
 *   started again on the same port. Every acknowledged message is in Postgres exactly once (no
 *   duplicate nonce), each channel's order is intact, and every client — which reconnects by
 *   itself, finds its session gone with the process, identifies again and resyncs through history —
 *   ends with exactly the history the database has.
 * - SIGTERM under load: the server stops accepting, finishes in-flight commands, flushes writes and
 *   closes every client with 4007 (reconnect); nothing acknowledged is lost.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { RunningServer } from '../../engine/server.ts';
import { CloseCode, ErrorCode, EventType, Method } from '../../protocol/opcodes.ts';
import { ConnectionClosedError, GuildhallClient, GuildhallError } from '../../protocol/client/index.ts';
import type { Guild, Message } from '../../protocol/types.ts';
import { startChildServer, freePort, type ChildServer } from '../support/child-server.ts';
import { freshPostgres } from '../support/databases.ts';
import { REDIS_URL, signUp, type TestUser } from '../support/test-server.ts';

const byId = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
const isLoad = (content: string) => content.startsWith('load ') || content.startsWith('seed ');

interface Acked {
  id: string;
  nonce: string;
  channelId: string;
  client: number;
}

/** A client as an app would keep it: the events it got, and its view of each channel's history. */
class Observer {
  readonly events = new Map<string, string[]>();
  readonly view = new Map<string, Map<string, string>>();
  duplicates = 0;
  readies = 0;
  resyncs = 0;
  constructor(readonly client: GuildhallClient) {
    client.on(EventType.MESSAGE_CREATE, (m) => {
      if (!isLoad(m.content)) return;
      const list = this.events.get(m.channelId) ?? [];
      if (list.includes(m.id)) this.duplicates++;
      list.push(m.id);
      this.events.set(m.channelId, list);
      this.remember(m);
    });
    client.onResync((info) => {
      this.resyncs++;
      for (const { messages } of Object.values(info.channels)) for (const m of messages) if (isLoad(m.content)) this.remember(m);
    });
    client.onReady(() => this.readies++);
  }
  private remember(m: Message): void {
    let v = this.view.get(m.channelId);
    if (!v) this.view.set(m.channelId, (v = new Map()));
    v.set(m.id, m.content);
  }
}

async function dbMessages(url: string): Promise<Array<{ id: string; channel_id: string; nonce: string | null; content: string }>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query('select id::text, channel_id::text, nonce, content from messages order by id')).rows;
  } finally {
    await c.end();
  }
}

async function setupWorld(base: RunningServer, users: TestUser[], guildsCount: number, channelsPerGuild: number) {
  const setup = await Promise.all(users.map((u) => GuildhallClient.connect({ url: base.gatewayUrl, token: u.token })));
  const channels: Array<{ guildId: string; channelId: string }> = [];
  for (let g = 0; g < guildsCount; g++) {
    const owner = setup[g % setup.length]!;
    const guild: Guild = await owner.request(Method.GUILD_CREATE, { name: `Crash ${g}` });
    channels.push({ guildId: guild.id, channelId: guild.channels[0]!.id });
    for (let c = 1; c < channelsPerGuild; c++) {
      const ch = await owner.request(Method.CHANNEL_CREATE, { guildId: guild.id, name: `load-${c}` });
      channels.push({ guildId: guild.id, channelId: ch.id });
    }
    for (const other of setup) {
      if (other === owner) continue;
      const invite = await owner.request(Method.INVITE_CREATE, { guildId: guild.id });
      await other.request(Method.INVITE_JOIN, { code: invite.code });
    }
  }
  await Promise.all(setup.map((c) => c.close()));
  return channels;
}

describe('crash safety (server as a child process)', { timeout: 240_000 }, () => {
  const children: ChildServer[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  const clientsToClose: GuildhallClient[] = [];
  after(async () => {
    await Promise.all(clientsToClose.map((c) => c.close().catch(() => {})));
    for (const c of children) c.kill('SIGKILL');
    for (const fn of cleanups) await fn().catch(() => {});
  });

  test('SIGKILL mid-load, restart: acked messages stored exactly once and in order; clients converge on the database', async () => {
    const db = await freshPostgres();
    cleanups.push(() => db.drop());
    const port = await freePort();
    const env = { DATABASE_URL: db.url, REDIS_URL, JWT_SECRET: randomBytes(32).toString('hex'), RATE_LIMITS_ENABLED: 'false', LOG_LEVEL: 'warn' };
    let child = await startChildServer(port, env);
    children.push(child);
    const base = { httpUrl: child.httpUrl, gatewayUrl: child.gatewayUrl } as RunningServer;
    const users = await Promise.all(Array.from({ length: 6 }, (_, i) => signUp(base, `crash${i}`)));
    const channels = await setupWorld(base, users, 2, 4);

    const clients = await Promise.all(
      users.map((u) => GuildhallClient.connect({ url: base.gatewayUrl, token: u.token, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 }, requestTimeoutMs: 10_000 })),
    );
    clientsToClose.push(...clients);
    const observers = clients.map((c) => new Observer(c));
    // One message per channel first, so every client knows where each channel stood.
    for (const ch of channels) await clients[0]!.request(Method.MESSAGE_SEND, { ...ch, content: `seed ${ch.channelId}` });
    const seen = () => observers.every((o) => channels.every((ch) => (o.events.get(ch.channelId)?.length ?? 0) >= 1));
    for (let i = 0; i < 200 && !seen(); i++) await sleep(25);
    assert.ok(seen(), 'every client saw every seed');

    const acked: Acked[] = [];
    let unknown = 0;
    let running = true;
    const loops = clients.map(async (client, ci) => {
      for (let n = 0; running; n++) {
        const ch = channels[(ci + n) % channels.length]!;
        const nonce = `${ci}-${n}`;
        try {
          const m = await client.request(Method.MESSAGE_SEND, { ...ch, content: `load ${nonce}`, nonce });
          acked.push({ id: m.id, nonce, channelId: ch.channelId, client: ci });
        } catch (err) {
          unknown++; // outcome unknown (the socket died under it) or refused: never retried here
          if (err instanceof ConnectionClosedError || (err instanceof Error && /timed out/.test(err.message))) await client.whenConnected().catch(() => {});
          else if (!(err instanceof GuildhallError && err.retryable)) throw err;
          else await sleep(50);
        }
      }
    });

    await sleep(1500);
    const ackedBeforeKill = acked.length;
    child.kill('SIGKILL');
    const killedAt = Date.now();
    assert.equal((await child.exited).signal, 'SIGKILL');
    child = await startChildServer(port, env);
    children.push(child);
    await Promise.all(clients.map((c) => c.whenConnected()));
    const recoveredMs = Date.now() - killedAt;
    await sleep(1500);
    running = false;
    await Promise.all(loops);
    const ackedAfterRestart = acked.length - ackedBeforeKill;
    assert.ok(ackedBeforeKill > 20 && ackedAfterRestart > 20, `acked ${ackedBeforeKill} before the kill, ${ackedAfterRestart} after`);

    // Requests that timed out on the client may still complete on the server: wait until the
    // database stops changing before taking it as the reference.
    let rows = await dbMessages(db.url);
    for (let i = 0; i < 100; i++) {
      await sleep(300);
      const again = await dbMessages(db.url);
      if (again.length === rows.length) break;
      rows = again;
    }
    // The database: every acked message exactly once, no nonce twice.
    const rowById = new Map(rows.map((r) => [r.id, r]));
    for (const a of acked) {
      const r = rowById.get(a.id);
      assert.ok(r, `acked message ${a.id} (${a.nonce}) is missing from Postgres`);
      assert.equal(r.nonce, a.nonce);
      assert.equal(r.channel_id, a.channelId);
    }
    const nonces = rows.filter((r) => r.nonce !== null).map((r) => `${r.channel_id}/${r.nonce}`);
    assert.equal(new Set(nonces).size, nonces.length, 'a nonce is stored twice');
    // Per-channel order: each client sent one message at a time, so its acks are in id order.
    for (let ci = 0; ci < clients.length; ci++) {
      for (const ch of channels) {
        const mine = acked.filter((a) => a.client === ci && a.channelId === ch.channelId).map((a) => a.id);
        assert.deepEqual(mine, [...mine].sort(byId), `client ${ci} channel ${ch.channelId} order`);
      }
    }

    // Every client converges on exactly the database's history, and never saw an event twice.
    const expected = new Map<string, string[]>();
    for (const r of rows) if (isLoad(r.content)) expected.set(r.channel_id, [...(expected.get(r.channel_id) ?? []), r.id]);
    const converged = () =>
      observers.every((o) => channels.every((ch) => {
        const want = expected.get(ch.channelId) ?? [];
        const have = [...(o.view.get(ch.channelId)?.keys() ?? [])].sort(byId);
        return have.length === want.length && have.every((id, i) => id === want[i]);
      }));
    for (let i = 0; i < 600 && !converged(); i++) await sleep(50);
    for (const [oi, o] of observers.entries()) {
      assert.equal(o.duplicates, 0, `client ${oi} got a MESSAGE_CREATE twice`);
      assert.ok(o.readies >= 1, `client ${oi} identified again after the restart`);
      for (const ch of channels) {
        const want = expected.get(ch.channelId) ?? [];
        const have = [...(o.view.get(ch.channelId)?.keys() ?? [])].sort(byId);
        assert.deepEqual(have, want, `client ${oi} channel ${ch.channelId} history`);
        const events = o.events.get(ch.channelId) ?? [];
        assert.deepEqual(events, [...events].sort(byId), `client ${oi} channel ${ch.channelId} events in order`);
      }
    }
    process.stdout.write(
      `# kill test: ${ackedBeforeKill} acked before SIGKILL, ${ackedAfterRestart} after restart, ${unknown} outcomes unknown (not acked), ` +
        `${rows.length} rows; clients back ${recoveredMs} ms after the kill; resyncs per client ${observers.map((o) => o.resyncs).join('/')}\n`,
    );
    await Promise.all(clients.map((c) => c.close()));
    child.kill('SIGTERM');
    await child.exited;
  });

  test('SIGTERM under load: in-flight commands finish, clients get 4007, nothing acked is lost', async () => {
    const db = await freshPostgres();
    cleanups.push(() => db.drop());
    const port = await freePort();
    const child = await startChildServer(port, { DATABASE_URL: db.url, REDIS_URL, JWT_SECRET: randomBytes(32).toString('hex'), RATE_LIMITS_ENABLED: 'false' });
    children.push(child);
    const base = { httpUrl: child.httpUrl, gatewayUrl: child.gatewayUrl } as RunningServer;
    const users = await Promise.all(Array.from({ length: 4 }, (_, i) => signUp(base, `term${i}`)));
    const channels = await setupWorld(base, users, 1, 4);
    const clients = await Promise.all(users.map((u) => GuildhallClient.connect({ url: base.gatewayUrl, token: u.token, reconnect: { initialDelayMs: 5000 } })));
    clientsToClose.push(...clients);
    const closeCodes: number[] = [];
    for (const c of clients) c.onDisconnect((code) => closeCodes.push(code));
    const acked: Acked[] = [];
    const outcomes = { unavailable: 0, closed: 0 };
    let running = true;
    const loops = clients.map(async (client, ci) => {
      for (let n = 0; running && client.isConnected; n++) {
        const ch = channels[n % channels.length]!;
        // Several commands in flight per client, so SIGTERM lands in the middle of some.
        const batch = await Promise.allSettled(
          [0, 1, 2, 3].map((k) => client.request(Method.MESSAGE_SEND, { ...ch, content: `load ${ci}-${n}-${k}`, nonce: `${ci}-${n}-${k}` })),
        );
        for (const r of batch) {
          if (r.status === 'fulfilled') acked.push({ id: r.value.id, nonce: r.value.nonce!, channelId: ch.channelId, client: ci });
          else if (r.reason instanceof GuildhallError && r.reason.code === ErrorCode.UNAVAILABLE) outcomes.unavailable++;
          else if (r.reason instanceof ConnectionClosedError) outcomes.closed++;
          else throw r.reason;
        }
      }
    });
    await sleep(1000);
    const before = acked.length;
    child.kill('SIGTERM');
    const exit = await child.exited;
    running = false;
    await Promise.all(loops);
    assert.equal(exit.code, 0, 'clean exit');
    assert.ok(before > 20, `only ${before} acked before SIGTERM`);
    await sleep(100);
    assert.ok(closeCodes.length >= clients.length && closeCodes.every((c) => c === CloseCode.SERVER_SHUTDOWN), `close codes ${closeCodes}`);
    const rows = new Map((await dbMessages(db.url)).map((r) => [r.id, r]));
    for (const a of acked) assert.equal(rows.get(a.id)?.nonce, a.nonce, `acked ${a.nonce} lost`);
    process.stdout.write(`# SIGTERM: ${acked.length} acked (all stored), ${outcomes.unavailable} refused with UNAVAILABLE while draining, ${outcomes.closed} cut by the close\n`);
    await Promise.all(clients.map((c) => c.close()));
  });
});
