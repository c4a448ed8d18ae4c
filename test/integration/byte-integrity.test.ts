/**
 * Bytes in equal bytes stored: message contents full of multibyte UTF-8 (2-, 3- and 4-byte
 * sequences, combining marks, emoji with joiners), sent as many concurrent frames by several
 * clients, are stored in Postgres byte for byte, and reach other sessions identically. uWS neuters
 * a message's ArrayBuffer when its handler returns; this holds because the gateway decodes (and so
 * copies) every frame before anything asynchronous happens.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { EventType, Method } from '../../protocol/opcodes.ts';
import type { GuildhallClient } from '../../protocol/client/index.ts';
import type { Guild, Message } from '../../protocol/types.ts';
import { signUp, startTestServer, type TestServer } from '../support/test-server.ts';

const ALPHABET = ['a', 'é', 'ß', 'Ж', 'ع', '水', '€', 'ｶ', '🀄', '𝄞', '👩‍👩‍👧', 'e\u0301', '\u{10FFFD}', ' ', '\n', '"', '\\'];

function randomContent(seed: number): string {
  let x = seed * 2654435761 >>> 0;
  const next = () => (x = (x * 1103515245 + 12345) >>> 0);
  const length = 1 + (next() % 900);
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[next() % ALPHABET.length];
  return `«${s}»`; // (contents are trimmed by the server; these have nothing to trim)
}

describe('byte integrity under concurrent frames', { timeout: 120_000 }, () => {
  let server: TestServer;
  let clients: GuildhallClient[] = [];
  let watcher: GuildhallClient;
  let guild: Guild;

  before(async () => {
    server = await startTestServer('services');
    const users = await Promise.all([0, 1, 2, 3, 4].map((i) => signUp(server, `bytes${i}`)));
    clients = await Promise.all(users.map((u) => u.connect()));
    guild = await clients[0]!.request(Method.GUILD_CREATE, { name: 'Bytes' });
    for (const c of clients.slice(1)) {
      const invite = await clients[0]!.request(Method.INVITE_CREATE, { guildId: guild.id });
      await c.request(Method.INVITE_JOIN, { code: invite.code });
    }
    watcher = clients[0]!;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server?.dispose();
  });

  test('4 clients × 150 concurrent multibyte messages: acks, events and Postgres rows carry the exact bytes', async () => {
    const channelId = guild.channels[0]!.id;
    const seen = new Map<string, string>();
    watcher.on(EventType.MESSAGE_CREATE, (m) => seen.set(m.id, m.content));
    const senders = clients.slice(1);
    const expected: Array<{ content: string; nonce: string }> = [];
    const acks = await Promise.all(
      senders.flatMap((c, ci) =>
        Array.from({ length: 150 }, (_, i) => {
          const content = randomContent(ci * 1000 + i + 1);
          const nonce = `ñ-${ci}-${i}-水`;
          expected.push({ content, nonce });
          return c.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId, content, nonce }) as Promise<Message>;
        }),
      ),
    );
    const byNonce = new Map(expected.map((e) => [e.nonce, e.content]));
    for (const m of acks) assert.equal(m.content, byNonce.get(m.nonce!), `ack for ${m.nonce}`);

    const db = new pg.Client({ connectionString: server.databaseUrl! });
    await db.connect();
    try {
      const { rows } = await db.query<{ nonce: string; hex: string }>(
        "select nonce, encode(convert_to(content, 'UTF8'), 'hex') as hex from messages where channel_id = $1 and nonce is not null",
        [channelId],
      );
      assert.equal(rows.length, expected.length);
      for (const r of rows) assert.equal(r.hex, Buffer.from(byNonce.get(r.nonce)!, 'utf8').toString('hex'), `stored bytes of ${r.nonce}`);
    } finally {
      await db.end();
    }
    const deadline = Date.now() + 10_000;
    while (seen.size < acks.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const m of acks) assert.equal(seen.get(m.id), m.content, `event for ${m.nonce}`);
  });
});
