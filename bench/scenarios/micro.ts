/**
 * `micro` (tinybench): the engine's hot building blocks in isolation, in this process.
 * Frame encode/decode per type, DISPATCH building by concatenating pre-encoded events versus
 * re-encoding them, permission computation, actor mailbox dispatch, snowflake generation and the
 * serialisation of a 50-message history page. Results are ops/s and per-op latency; there is no
 * peer here, so no ratios.
 */
import pino from 'pino';
import { Bench } from 'tinybench';
import { ActorSystem } from '../../engine/actors/actor-system.ts';
import { decode, encode, encodeDispatch, encodeError, encodeEvent, encodeHello, encodeOk, encodeReady } from '../../protocol/codec.ts';
import { SnowflakeGenerator, systemClock } from '../../protocol/ids.ts';
import { Op } from '../../protocol/opcodes.ts';
import { channelPermissions, DEFAULT_EVERYONE_PERMISSIONS, Permission, type Overwrite, type PermissionSubject } from '../../protocol/permissions.ts';
import type { Options } from '../lib/args.ts';
import { table, type ResultRow } from '../lib/report.ts';
import type { Scenario, ScenarioContext, ScenarioOutcome } from '../lib/scenario.ts';
import { round } from '../lib/stats.ts';

export interface MicroParams {
  timeMs: number;
  filter: string | null;
}

export const micro: Scenario<MicroParams> = {
  name: 'micro',
  description: 'tinybench: frame encode/decode, DISPATCH concat vs re-encode, permissions, actor mailbox, ids, history page',
  usage: ['--time 400        milliseconds per task', '--filter dispatch  only tasks whose name contains this'],
  params: (o: Options, inAll: boolean) => ({ timeMs: o.int('time', inAll ? 300 : 400, 20, 60_000), filter: o.string('filter', null) }),
  run: runMicro,
};

const ids = new SnowflakeGenerator(1);
const id = () => ids.next();

function message(i: number) {
  return {
    id: id(), type: 0, channelId: '7400000000000000001', guildId: '7400000000000000000', authorId: '7400000000000000123',
    content: `message number ${i} ${'x'.repeat(80)}`, createdAt: 1_767_225_600_000 + i, nonce: null,
    mentions: { users: [], roles: [], everyone: false },
  };
}

function readyPayload() {
  const guildId = id();
  const channels = Array.from({ length: 8 }, (_, i) => ({
    id: id(), guildId, type: 0, name: `channel-${i}`, topic: null, parentId: null, position: i, overwrites: [],
  }));
  return {
    sessionId: 'c2Vzc2lvbi1pZC1mb3ItYmVuY2g',
    user: { id: id(), nickname: 'bench-user', email: 'bench@example.test' },
    guilds: [{
      id: guildId, name: 'Bench guild', description: null, iconUrl: null, ownerId: id(), systemChannelId: channels[0]!.id,
      createdAt: 1_767_225_600_000, memberCount: 1200, channels,
      roles: [{ id: guildId, name: '@everyone', permissions: DEFAULT_EVERYONE_PERMISSIONS.toString(), position: 0, mentionable: false }],
      me: { guildId, user: { id: id(), nickname: 'bench-user' }, joinedAt: 1_767_225_600_000, roles: [], nickname: null },
    }],
    dms: [],
    streams: { [`g:${guildId}`]: { epoch: 1_767_225_600_000, seq: 42 }, [`u:${id()}`]: { epoch: 1_767_225_600_000, seq: 3 } },
  };
}

function permissionCase(): { subject: PermissionSubject; overwrites: Overwrite[] } {
  const guildId = id();
  const roles = [id(), id(), id()];
  return {
    subject: {
      guildId, ownerId: id(), userId: id(), everyone: DEFAULT_EVERYONE_PERMISSIONS,
      rolePermissions: [Permission.MANAGE_MESSAGES, Permission.KICK_MEMBERS, Permission.PIN_MESSAGES],
      roleIds: new Set(roles), timedOut: false,
    },
    overwrites: [
      { type: 'role', id: guildId, allow: 0n, deny: Permission.SEND_MESSAGES },
      { type: 'role', id: roles[0]!, allow: Permission.SEND_MESSAGES, deny: 0n },
      { type: 'role', id: id(), allow: Permission.ATTACH_FILES, deny: 0n },
      { type: 'member', id: id(), allow: 0n, deny: Permission.VIEW_CHANNEL },
    ],
  };
}

async function runMicro(p: MicroParams, ctx: ScenarioContext): Promise<ScenarioOutcome> {
  const bench = new Bench({ time: p.timeMs, warmupTime: Math.min(200, p.timeMs), iterations: 16 });
  const frames: Record<string, unknown[]> = {
    HELLO: [Op.HELLO, { v: 1, heartbeatIntervalMs: 30_000, maxFrameBytes: 65_536 }],
    READY: [Op.READY, readyPayload()],
    REQUEST: [Op.REQUEST, 17, 'message.send', { guildId: '7400000000000000000', channelId: '7400000000000000001', content: 'hello there '.repeat(8), nonce: 'n-1' }],
    OK: [Op.OK, 17, message(1)],
    ERROR: [Op.ERROR, 17, 3000, 'missing permission SEND_MESSAGES', { permission: 'SEND_MESSAGES' }],
  };
  const event = (i: number) => encodeEvent('MESSAGE_CREATE', 'g:7400000000000000000', 1_767_225_600_000, i, message(i));
  const events32 = Array.from({ length: 32 }, (_, i) => event(i));
  const eventValues32 = Array.from({ length: 32 }, (_, i) => ['MESSAGE_CREATE', 'g:7400000000000000000', 1_767_225_600_000, i, message(i)]);
  const dispatch1 = encodeDispatch([events32[0]!]);
  const dispatch32 = encodeDispatch(events32);
  const page50 = Array.from({ length: 50 }, (_, i) => message(i));

  for (const [name, frame] of Object.entries(frames)) {
    const bytes = encode(frame);
    bench.add(`encode ${name} (${bytes.length} B)`, () => void encode(frame));
    bench.add(`decode ${name}`, () => void decode(bytes));
  }
  bench.add(`encode HELLO via encodeHello`, () => void encodeHello(frames.HELLO![1]));
  bench.add(`encode READY via encodeReady`, () => void encodeReady(frames.READY![1]));
  bench.add(`encode ERROR via encodeError`, () => void encodeError(17, 3000, 'missing permission', null));
  bench.add(`encode DISPATCH 1 event (event + frame, ${dispatch1.length} B)`, () => void encodeDispatch([event(1)]));
  bench.add(`decode DISPATCH 1 event`, () => void decode(dispatch1));
  bench.add(`encodeDispatch concat 32 pre-encoded events (${dispatch32.length} B)`, () => void encodeDispatch(events32));
  bench.add(`re-encode DISPATCH 32 events from values`, () => void encode([Op.DISPATCH, ...eventValues32]));
  bench.add(`decode DISPATCH 32 events`, () => void decode(dispatch32));
  const perm = permissionCase();
  bench.add('permissions: channelPermissions (3 roles, 4 overwrites)', () => void channelPermissions(perm.subject, perm.overwrites));
  const gen = new SnowflakeGenerator(2);
  bench.add('ids: SnowflakeGenerator.next()', () => void gen.next());
  bench.add(`history page: encodeOk with 50 messages (${encodeOk(1, page50).length} B)`, () => void encodeOk(1, page50));

  const system = new ActorSystem({ maxIdle: 1000, idleMs: 60_000, clock: systemClock, logger: pino({ level: 'silent' }) });
  system.register('echo', async () => ({ handle: (cmd: unknown) => cmd }));
  await system.ask('echo', '1', 0);
  bench.add('actor mailbox: ask on a trivial behaviour (await)', async () => {
    await system.ask('echo', '1', 1);
  });
  bench.add('actor mailbox: 100 concurrent asks to one actor (per ask)', async () => {
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) all.push(system.ask('echo', '1', i));
    await Promise.all(all);
  });

  if (p.filter) for (const t of [...bench.tasks]) if (!t.name.toLowerCase().includes(p.filter.toLowerCase())) bench.remove(t.name);
  ctx.progress.step(`micro: ${bench.tasks.length} tasks × ${p.timeMs} ms`);
  await bench.run();
  system.close();

  const results: ResultRow[] = [];
  for (const t of bench.tasks) {
    const r = t.result;
    if (r.state !== 'completed') {
      results.push({ system: 'guildhall', task: t.name, state: r.state });
      continue;
    }
    const per100 = t.name.startsWith('actor mailbox: 100 concurrent');
    results.push({
      system: 'guildhall',
      task: t.name,
      opsPerSec: Math.round(r.throughput.mean * (per100 ? 100 : 1)),
      meanNs: round((r.latency.mean * 1e6) / (per100 ? 100 : 1), 1),
      p99Ns: round((r.latency.p99 * 1e6) / (per100 ? 100 : 1), 1),
      rmePct: round(r.latency.rme, 2),
      samples: r.latency.samplesCount,
    });
  }
  const byName = (s: string) => results.find((r) => r.task?.toString().startsWith(s))?.opsPerSec as number | undefined;
  const concat = byName('encodeDispatch concat');
  const reencode = byName('re-encode DISPATCH 32');
  const notes = concat && reencode ? [`DISPATCH of 32 events: concatenating pre-encoded events is ${(concat / reencode).toFixed(1)}× faster than re-encoding them`] : [];
  const summary = table(['task', 'ops/s', 'mean ns', 'p99 ns', '±%'], results.map((r) => [r.task, r.opsPerSec, r.meanNs, r.p99Ns, r.rmePct]));
  return { results, ratios: {}, notes, summary };
}
