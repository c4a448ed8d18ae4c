/**
 * Bad input over the real socket: each case gets its documented ERROR or close code, and the
 * server keeps serving everyone else afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { JwtCodec } from '../../engine/auth/jwt.ts';
import { CloseCode, ErrorCode, Method, Op } from '../../protocol/opcodes.ts';
import { GuildhallError, type GuildhallClient } from '../../protocol/client/index.ts';
import type { Guild } from '../../protocol/types.ts';
import { RawSocket } from '../support/raw-socket.ts';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/test-server.ts';

const isError = (ref: number, code: number) => (f: unknown[]) => f[0] === Op.ERROR && f[1] === ref && f[2] === code;

describe('gateway bad input', () => {
  let server: TestServer;
  let owner: TestUser;
  let stranger: TestUser;
  let witness: GuildhallClient;
  let guild: Guild;

  before(async () => {
    server = await startTestServer('services', { MAX_FRAME_BYTES: '4096' });
    [owner, stranger] = await Promise.all([signUp(server, 'owner'), signUp(server, 'stranger')]);
    witness = await owner.connect();
    guild = await witness.request(Method.GUILD_CREATE, { name: 'Bad Input' });
  });

  after(async () => {
    await witness?.close();
    await server?.dispose();
  });

  /** After each bad case, a healthy client still gets served. */
  async function stillServing(): Promise<void> {
    const page = await witness.request(Method.MESSAGE_HISTORY, { guildId: guild.id, channelId: guild.channels[0]!.id, limit: 1 });
    assert.ok(Array.isArray(page));
  }

  test('bytes that are not msgpack → ERROR MALFORMED_FRAME, connection stays usable', async () => {
    const raw = await RawSocket.identified(server.gatewayUrl, owner.token);
    raw.sendBytes(new Uint8Array([0xc1, 0xff, 0x00]));
    await raw.next(isError(0, ErrorCode.MALFORMED_FRAME));
    raw.send([Op.REQUEST, 7, Method.MESSAGE_HISTORY, { guildId: guild.id, channelId: guild.channels[0]!.id }]);
    const ok = await raw.next((f) => f[0] === Op.OK);
    assert.equal(ok[1], 7);
    raw.close();
    await stillServing();
  });

  test('a text frame → MALFORMED_FRAME', async () => {
    const raw = await RawSocket.open(server.gatewayUrl);
    raw.sendBytes('{"op":1}', false);
    await raw.next(isError(0, ErrorCode.MALFORMED_FRAME));
    raw.close();
  });

  test('a frame that is not the documented shape → INVALID_FRAME', async () => {
    const raw = await RawSocket.identified(server.gatewayUrl, owner.token);
    raw.send({ op: 5 });
    await raw.next(isError(0, ErrorCode.INVALID_FRAME));
    raw.send([Op.REQUEST, 'not-a-ref', Method.GUILD_CREATE, {}]);
    await raw.next(isError(0, ErrorCode.INVALID_FRAME));
    raw.close();
    await stillServing();
  });

  test('unknown opcode → UNKNOWN_OPCODE; unknown method → UNKNOWN_METHOD', async () => {
    const raw = await RawSocket.identified(server.gatewayUrl, owner.token);
    raw.send([42, {}]);
    await raw.next(isError(0, ErrorCode.UNKNOWN_OPCODE));
    raw.send([Op.REQUEST, 3, 'guild.explode', {}]);
    await raw.next(isError(3, ErrorCode.UNKNOWN_METHOD));
    raw.close();
  });

  test('missing and wrong-typed fields → INVALID_PAYLOAD naming the field', async () => {
    const raw = await RawSocket.identified(server.gatewayUrl, owner.token);
    raw.send([Op.REQUEST, 1, Method.MESSAGE_SEND, { guildId: guild.id, content: 'no channel' }]);
    const e1 = await raw.next(isError(1, ErrorCode.INVALID_PAYLOAD));
    assert.deepEqual(e1[4], { field: 'channelId', reason: 'must be a snowflake id (decimal string)' });
    raw.send([Op.REQUEST, 2, Method.MESSAGE_SEND, { guildId: guild.id, channelId: guild.channels[0]!.id, content: 12 }]);
    const e2 = await raw.next(isError(2, ErrorCode.INVALID_PAYLOAD));
    assert.equal((e2[4] as { field: string }).field, 'content');
    raw.send([Op.REQUEST, 3, Method.GUILD_CREATE, { name: 'ok name', extra: true }]);
    const e3 = await raw.next(isError(3, ErrorCode.INVALID_PAYLOAD));
    assert.equal((e3[4] as { field: string }).field, 'extra');
    raw.close();
    await stillServing();
  });

  test('history limit out of range → INVALID_PAYLOAD', async () => {
    for (const limit of [0, 101, -5, 2.5]) {
      await assert.rejects(
        witness.request(Method.MESSAGE_HISTORY, { guildId: guild.id, channelId: guild.channels[0]!.id, limit }),
        (e: GuildhallError) => e.code === ErrorCode.INVALID_PAYLOAD && (e.details as { field: string }).field === 'limit',
      );
    }
  });

  test('a command before IDENTIFY → NOT_IDENTIFIED, then IDENTIFY still works', async () => {
    const raw = await RawSocket.open(server.gatewayUrl);
    raw.send([Op.REQUEST, 9, Method.GUILD_CREATE, { name: 'too early' }]);
    await raw.next(isError(9, ErrorCode.NOT_IDENTIFIED));
    raw.send([Op.IDENTIFY, { token: owner.token }]);
    await raw.next((f) => f[0] === Op.READY);
    raw.close();
  });

  test('IDENTIFY with a bad status → INVALID_PAYLOAD naming it; a valid status is accepted', async () => {
    for (const status of ['offline', 'away', 3]) {
      const raw = await RawSocket.open(server.gatewayUrl);
      raw.send([Op.IDENTIFY, { token: owner.token, status }]);
      const e = await raw.next(isError(0, ErrorCode.INVALID_PAYLOAD));
      assert.equal((e[4] as { field: string }).field, 'status', `status ${String(status)}`);
      raw.send([Op.IDENTIFY, { token: owner.token, status: 'dnd' }]);
      await raw.next((f) => f[0] === Op.READY);
      raw.close();
    }
    await stillServing();
  });

  test('an oversize frame closes the socket with 1009', async () => {
    const raw = await RawSocket.identified(server.gatewayUrl, owner.token);
    raw.send([Op.REQUEST, 1, Method.GUILD_CREATE, { name: 'x'.repeat(8000) }]);
    const { code } = await raw.closed;
    assert.equal(code, CloseCode.FRAME_TOO_LARGE);
    await stillServing();
  });

  test('invalid, forged and expired tokens close with AUTHENTICATION_FAILED', async () => {
    const past = { now: () => Date.now() - 3600_000 };
    const expired = new JwtCodec({ keyring: { current: { kid: 'k1', secret: server.jwtSecret } }, issuer: 'guildhall', audience: 'guildhall-gateway', clock: past })
      .sign({ sub: owner.user.id, sid: 'whatever' }, 60_000);
    const forged = new JwtCodec({ keyring: { current: { kid: 'k1', secret: 'x'.repeat(40) } }, issuer: 'guildhall', audience: 'guildhall-gateway' })
      .sign({ sub: owner.user.id, sid: 'whatever' }, 60_000);
    for (const token of ['not-a-jwt', expired, forged]) {
      const raw = await RawSocket.open(server.gatewayUrl);
      raw.send([Op.IDENTIFY, { token }]);
      const { code } = await raw.closed;
      assert.equal(code, CloseCode.AUTHENTICATION_FAILED, `token ${token.slice(0, 12)}…`);
    }
    await stillServing();
  });

  test('sending to a guild you are not in → NOT_MEMBER; an unknown guild → UNKNOWN_GUILD', async () => {
    const c = await stranger.connect();
    try {
      await assert.rejects(
        c.request(Method.MESSAGE_SEND, { guildId: guild.id, channelId: guild.channels[0]!.id, content: 'hi' }),
        (e: GuildhallError) => e.code === ErrorCode.NOT_MEMBER,
      );
      await assert.rejects(
        c.request(Method.MESSAGE_SEND, { guildId: '123456789', channelId: guild.channels[0]!.id, content: 'hi' }),
        (e: GuildhallError) => e.code === ErrorCode.UNKNOWN_GUILD,
      );
      await assert.rejects(c.request(Method.INVITE_JOIN, { code: 'Nope123456' }), (e: GuildhallError) => e.code === ErrorCode.UNKNOWN_INVITE);
    } finally {
      await c.close();
    }
    await stillServing();
  });
});
