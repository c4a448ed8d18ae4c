/**
 * The Socket.IO 4 peer under test (bench/peers/socketio-server.ts) in a child process. Identities
 * are synthetic: a numeric user id and an HS256 token the peer verifies at handshake; a group is a
 * set of channel rooms (numeric ids, so they fit the int8 `channel_id` column when it persists).
 */
import { randomBytes } from 'node:crypto';
import { signToken } from '../lib/jwt-lite.ts';
import { benchQuery, recreateBenchDatabase } from '../lib/pg.ts';
import { SnowflakeGenerator } from '../../protocol/ids.ts';
import { freePort, SERVER_HOST } from '../lib/net-util.ts';
import { startServerProcess } from './server-process.ts';
import type { Group, Identity, RunningSystem, StartOptions, World, WorldShape } from './system.ts';

export async function startSocketio(opts: StartOptions): Promise<RunningSystem> {
  const databaseUrl = opts.persist ? await recreateBenchDatabase() : null;
  const secret = randomBytes(32).toString('hex');
  const port = await freePort();
  const server = await startServerProcess({
    name: 'socketio',
    script: 'bench/peers/socketio-server.ts',
    port,
    healthPath: '/health',
    cpuProfileDir: opts.cpuProfileDir,
    env: { PORT: String(port), HOST: SERVER_HOST, JWT_SECRET: secret, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}), ...opts.env },
  });
  return {
    name: 'socketio',
    server,
    createWorld: async (shape) => syntheticWorld(shape, (userId, groupId) => signToken({ sub: userId, gid: groupId }, secret)),
    connSpec: (group, member, o = {}) => ({
      system: 'socketio',
      host: SERVER_HOST,
      port,
      path: '/socket.io/?EIO=4&transport=websocket',
      localAddress: o.localAddress,
      token: member.token,
      rooms: group.channelIds,
      target: { guildId: group.id, channelId: o.channelId ?? group.channelIds[0]! },
    }),
    seedMessages: databaseUrl ? (group, member, channelId, count) => seedRows(group.id, member.userId, channelId, count) : undefined,
    stop: () => server.stop(),
  };
}

/** Inserts `count` messages straight into the peer's table (it reads history from there); ids oldest first. */
async function seedRows(guildId: string, authorId: string, channelId: string, count: number): Promise<string[]> {
  const gen = new SnowflakeGenerator(3);
  const ids = Array.from({ length: count }, () => gen.next());
  for (let i = 0; i < count; i += 5000) {
    const chunk = ids.slice(i, i + 5000);
    await benchQuery(
      `insert into messages (id, channel_id, guild_id, author_id, content, nonce, created_at)
       select t.id, $2::int8, $3::int8, $4::int8, 'history seed ' || t.n || ' ' || repeat('x', 80), null, now()
       from unnest($1::int8[]) with ordinality as t(id, n)`,
      [chunk, channelId, guildId, authorId],
    );
  }
  return ids;
}

/** Numeric ids for groups (1000+g), channels (1_000_000 + g·1000 + c) and users (2_000_000 + n). */
export function syntheticWorld(shape: WorldShape, tokenFor: (userId: string, groupId: string) => string): World {
  const groups: Group[] = [];
  let user = 0;
  for (let g = 0; g < shape.groups; g++) {
    const id = String(1000 + g);
    const channelIds = Array.from({ length: shape.channelsPerGroup }, (_, c) => String(1_000_000 + g * 1000 + c));
    const members: Identity[] = Array.from({ length: shape.usersPerGroup }, () => {
      const userId = String(2_000_000 + ++user);
      return { userId, token: tokenFor(userId, id) };
    });
    groups.push({ id, channelIds, members });
  }
  return { groups };
}
