/**
 * The bare uWebSockets.js peer under test (bench/peers/uws-raw-server.ts) in a child process: no
 * accounts and no persistence; a connection subscribes to its group's channel topics and publishes
 * to one, all named in its URL.
 */
import { freePort, SERVER_HOST } from '../lib/net-util.ts';
import { startServerProcess } from './server-process.ts';
import { syntheticWorld } from './socketio.ts';
import type { RunningSystem, StartOptions } from './system.ts';

export async function startUwsRaw(opts: StartOptions): Promise<RunningSystem> {
  const port = await freePort();
  const server = await startServerProcess({
    name: 'uws-raw',
    script: 'bench/peers/uws-raw-server.ts',
    port,
    healthPath: '/health',
    cpuProfileDir: opts.cpuProfileDir,
    env: { PORT: String(port), HOST: SERVER_HOST, ...opts.env },
  });
  return {
    name: 'uws-raw',
    server,
    createWorld: async (shape) => syntheticWorld(shape, () => ''),
    connSpec: (group, _member, o = {}) => {
      const channelId = o.channelId ?? group.channelIds[0]!;
      const q = new URLSearchParams({ sub: group.channelIds.join(','), pub: channelId, ack: '1' });
      return {
        system: 'uws-raw',
        host: SERVER_HOST,
        port,
        path: `/ws?${q.toString()}`,
        localAddress: o.localAddress,
        target: { guildId: group.id, channelId },
      };
    },
    stop: () => server.stop(),
  };
}
