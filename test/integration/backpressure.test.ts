/**
 * Backpressure: a client that stops reading is closed with SLOW_CONSUMER (4006) once more than
 * SLOW_CONSUMER_BYTES wait in its send buffer, so the server's memory for it stays bounded, while
 * another reader of the same channel keeps receiving everything. The stalled client, once it reads
 * again, sees the 4006, resumes, and catches up (by replay or resync) to exactly the full history.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Socket } from 'node:net';
import { CloseCode, EventType, Method } from '../../protocol/opcodes.ts';
import { GuildhallClient } from '../../protocol/client/index.ts';
import type { ResumedPayload } from '../../protocol/resume.ts';
import type { Guild, Message } from '../../protocol/types.ts';
import { gatedWebSocket } from '../support/gated-websocket.ts';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/test-server.ts';

const SLOW_CONSUMER_BYTES = 256 * 1024;

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what} not met in time`);
    await sleep(20);
  }
}

describe('slow consumers', { timeout: 120_000 }, () => {
  let server: TestServer;
  let bob: TestUser;
  let alice: TestUser;
  let carol: TestUser;
  let sender: GuildhallClient;
  let guild: Guild;
  /** Sockets a failed test could leave paused: destroyed at the end, so the file always exits. */
  const paused: Socket[] = [];

  before(async () => {
    server = await startTestServer('services', {
      SLOW_CONSUMER_BYTES: String(SLOW_CONSUMER_BYTES),
      REPLAY_BUFFER_EVENTS: '10000',
      REPLAY_BUFFER_BYTES: String(64 * 1024 * 1024),
    });
    [bob, alice, carol] = await Promise.all([signUp(server, 'bob'), signUp(server, 'alice'), signUp(server, 'carol')]);
    sender = await bob.connect();
    guild = await sender.request(Method.GUILD_CREATE, { name: 'Firehose' });
    for (const u of [alice, carol]) {
      const c = await u.connect();
      const invite = await sender.request(Method.INVITE_CREATE, { guildId: guild.id });
      await c.request(Method.INVITE_JOIN, { code: invite.code });
      await c.close();
    }
  });

  after(async () => {
    for (const s of paused) s.destroy();
    await sender?.close();
    await server?.dispose();
  });

  const connections = async (): Promise<number> => ((await (await fetch(`${server.httpUrl}/health`)).json()) as { connections: number }).connections;

  test('a stalled reader is closed with 4006 while a reader of the same channel gets everything; it then catches up', async () => {
    const channelId = guild.channels[0]!.id;
    const normal = await GuildhallClient.connect({ url: server.gatewayUrl, token: alice.token });
    const gate = gatedWebSocket();
    const stalled = await GuildhallClient.connect({ url: server.gatewayUrl, token: carol.token, WebSocket: gate.Ctor, reconnect: { initialDelayMs: 20 } });
    const sentAt = new Map<string, number>();
    const lagMs: number[] = [];
    const normalGot: string[] = [];
    normal.on(EventType.MESSAGE_CREATE, (m) => {
      if (m.channelId !== channelId) return;
      normalGot.push(m.id);
      const t = sentAt.get(m.id);
      if (t !== undefined) lagMs.push(Date.now() - t);
    });
    let normalDisconnects = 0;
    normal.onDisconnect(() => normalDisconnects++);
    const stalledGot: string[] = [];
    stalled.on(EventType.MESSAGE_CREATE, (m) => {
      if (m.channelId === channelId) stalledGot.push(m.id);
    });
    const stalledCloses: number[] = [];
    stalled.onDisconnect((code) => stalledCloses.push(code));
    assert.equal(await connections(), 3);

    // Carol's client stops reading: the kernel buffers fill, then the server's send buffer grows.
    const carolSocket = (gate.current as unknown as { _socket: Socket })._socket;
    paused.push(carolSocket);
    carolSocket.pause();
    const content = 'ü'.repeat(1900); // ~3.8 KB per event
    const sent: Message[] = [];
    let closedAfter = 0;
    for (let batch = 0; batch < 400 && closedAfter === 0; batch++) {
      const burst = await Promise.all(
        Array.from({ length: 16 }, (_, i) => sender.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId, content: `${batch}.${i} ${content}` })),
      );
      for (const m of burst) {
        sentAt.set(m.id, Date.now());
        sent.push(m);
      }
      if (batch % 4 === 3 && (await connections()) === 2) closedAfter = sent.length;
    }
    assert.ok(closedAfter > 0, `the stalled reader was never closed (${sent.length} messages, ${(sent.length * 3.8) | 0} KB sent)`);
    // More traffic while carol is gone: she must get it by replay after resuming.
    for (let i = 0; i < 20; i++) {
      const m = await sender.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId, content: `after close ${i} ${content}` });
      sentAt.set(m.id, Date.now());
      sent.push(m);
    }
    // The normal reader has everything, in order, without ever being disconnected.
    await waitUntil(() => normalGot.length >= sent.length, 20_000, 'normal reader complete');
    assert.deepEqual(normalGot, sent.map((m) => m.id));
    assert.equal(normalDisconnects, 0);

    // Carol reads again: the buffered frames, then the 4006, then a resume that catches up.
    const resumed = new Promise<ResumedPayload>((resolve) => stalled.onResumed(resolve));
    carolSocket.resume();
    const info = await resumed;
    assert.equal(stalledCloses[0], CloseCode.SLOW_CONSUMER);
    await waitUntil(() => stalledGot.length >= sent.length, 30_000, 'stalled reader caught up');
    await sleep(100);
    assert.deepEqual(stalledGot, sent.map((m) => m.id), 'exactly once, in order');
    lagMs.sort((a, b) => a - b);
    const p99 = lagMs[Math.floor(lagMs.length * 0.99)] ?? 0;
    process.stdout.write(
      `# slow consumer closed after ${closedAfter} messages (~${Math.round((closedAfter * 3.8) / 1024)} MiB); ` +
        `normal reader lag p50 ${lagMs[lagMs.length >> 1]} ms p99 ${p99} ms; resume: replayed ${info.replayed}, resync ${info.resync.map((r) => r.reason).join(',') || 'none'}\n`,
    );
    await Promise.all([normal.close(), stalled.close()]);
  });
});
