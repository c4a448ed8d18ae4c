/**
 * Guildhall under test: `node --import tsx engine/main.ts` in a child process on the real Postgres
 * (bench database, recreated) and Redis (see lib/private-redis.ts, flushed). Accounts are
 * registered over HTTP and logged in once each; every connection of a user IDENTIFYs with that
 * user's access token, so all connections are authenticated sessions without thousands of argon2
 * hashes. Guilds and channels are created, and members join, through the SDK.
 */
import { randomBytes } from 'node:crypto';
import { auth, GuildhallClient } from '../../protocol/client/index.ts';
import { recreateBenchDatabase } from '../lib/pg.ts';
import { benchRedisUrl } from '../lib/private-redis.ts';
import { freePort, SERVER_HOST } from '../lib/net-util.ts';
import { buildGuildhall } from './guildhall-build.ts';
import { startServerProcess } from './server-process.ts';
import type { Group, Identity, RunningSystem, StartOptions, World, WorldShape } from './system.ts';

const PASSWORD = 'bench password 0123456789';
/** Accounts registered (argon2 on the server's thread pool) and joined at once. */
const REGISTER_PARALLEL = 8;

export async function startGuildhall(opts: StartOptions): Promise<RunningSystem> {
  const databaseUrl = await recreateBenchDatabase();
  const redisUrl = await benchRedisUrl();
  const port = await freePort();
  const compiled = opts.engine === 'build' ? await buildGuildhall() : null;
  const server = await startServerProcess({
    name: 'guildhall',
    script: 'engine/main.ts',
    ...(compiled ? { compiled: { script: compiled.main, probe: compiled.probe } } : {}),
    port,
    healthPath: '/health',
    cpuProfileDir: opts.cpuProfileDir,
    env: {
      PORT: String(port),
      HOST: SERVER_HOST,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      JWT_SECRET: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'warn',
      // The load generators are a handful of users on one address sending far beyond what the
      // default abuse limits allow (messages per user per channel, commands per connection, logins).
      RATE_LIMITS_ENABLED: 'false',
      ...opts.env,
    },
  });
  const httpUrl = `http://${SERVER_HOST}:${port}`;
  const gatewayUrl = `ws://${SERVER_HOST}:${port}/gateway`;
  const tag = randomBytes(3).toString('hex');
  let userCounter = 0;

  const register = async (): Promise<Identity & { nickname: string }> => {
    const nickname = `b${tag}${++userCounter}`;
    const email = `${nickname}@bench.test`;
    await auth.register(httpUrl, { email, password: PASSWORD, nickname });
    const tokens = await auth.login(httpUrl, { email, password: PASSWORD, client: 'guildhall-bench' });
    return { userId: tokens.user.id, token: tokens.accessToken, nickname };
  };

  const createWorld = async (shape: WorldShape): Promise<World> => {
    const groups: Group[] = [];
    for (let g = 0; g < shape.groups; g++) {
      const members: (Identity & { nickname: string })[] = [];
      for (let i = 0; i < shape.usersPerGroup; i += REGISTER_PARALLEL) {
        members.push(...(await Promise.all(Array.from({ length: Math.min(REGISTER_PARALLEL, shape.usersPerGroup - i) }, register))));
      }
      const owner = await GuildhallClient.connect({ url: gatewayUrl, token: members[0]!.token, client: 'guildhall-bench' });
      try {
        const guild = await owner.request('guild.create', { name: `bench ${g}` });
        const channelIds = [guild.channels[0]!.id];
        for (let c = 1; c < shape.channelsPerGroup; c++) {
          channelIds.push((await owner.request('channel.create', { guildId: guild.id, name: `bench-${c}` })).id);
        }
        if (members.length > 1) {
          const invite = await owner.request('invite.create', { guildId: guild.id });
          const others = members.slice(1);
          for (let i = 0; i < others.length; i += REGISTER_PARALLEL) {
            await Promise.all(
              others.slice(i, i + REGISTER_PARALLEL).map(async (m) => {
                const client = await GuildhallClient.connect({ url: gatewayUrl, token: m.token, client: 'guildhall-bench' });
                try {
                  await client.request('invite.join', { code: invite.code });
                } finally {
                  await client.close();
                }
              }),
            );
          }
        }
        groups.push({ id: guild.id, channelIds, members: members.map(({ userId, token }) => ({ userId, token })) });
      } finally {
        await owner.close();
      }
    }
    return { groups };
  };

  const seedMessages = async (group: Group, member: Identity, channelId: string, count: number): Promise<string[]> => {
    const client = await GuildhallClient.connect({ url: gatewayUrl, token: member.token, client: 'guildhall-bench' });
    const ids: string[] = [];
    try {
      const batch = 200;
      for (let i = 0; i < count; i += batch) {
        const sent = await Promise.all(
          Array.from({ length: Math.min(batch, count - i) }, (_, k) =>
            client.request('message.send', { guildId: group.id, channelId, content: `history seed ${i + k} ${'x'.repeat(80)}` })),
        );
        for (const m of sent) ids.push(m.id);
      }
    } finally {
      await client.close();
    }
    return ids.sort((a, b) => (a.length - b.length) || (a < b ? -1 : a > b ? 1 : 0));
  };

  return {
    name: 'guildhall',
    server,
    createWorld,
    seedMessages,
    connSpec: (group, member, o = {}) => ({
      system: 'guildhall',
      host: SERVER_HOST,
      port,
      path: '/gateway',
      localAddress: o.localAddress,
      token: member.token,
      target: { guildId: group.id, channelId: o.channelId ?? group.channelIds[0]! },
    }),
    stop: () => server.stop(),
  };
}
