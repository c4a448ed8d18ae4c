/**
 * A system under test as the scenarios see it: a server process plus a "world" of groups (a
 * Guildhall guild, or its equivalent set of rooms/topics on a peer), their channels and member
 * identities, and how to describe a connection of a member for the load workers.
 */
import { sourceAddresses } from '../lib/net-util.ts';
import type { ConnSpec } from '../load/conn.ts';
import type { ServerProcess, SystemName } from './server-process.ts';

export interface WorldShape {
  groups: number;
  channelsPerGroup: number;
  /** Distinct user accounts per group (Guildhall registers them; connections reuse their tokens). */
  usersPerGroup: number;
}

export interface Identity {
  userId: string;
  token: string;
}

export interface Group {
  id: string;
  channelIds: string[];
  members: Identity[];
}

export interface World {
  groups: Group[];
}

export interface StartOptions {
  /** Give the server a database (recreated) — Guildhall always has one; Socket.IO only when it persists. */
  persist: boolean;
  /** Write a V8 CPU profile of the server into this directory. */
  cpuProfileDir?: string;
  /** Extra environment for the server process. */
  env?: Record<string, string>;
  /** How Guildhall runs: TypeScript through tsx (default, as `npm start`) or compiled (`npm run build`). */
  engine?: EngineRuntime;
}

export type EngineRuntime = 'tsx' | 'build';

export interface RunningSystem {
  name: SystemName;
  server: ServerProcess;
  /** Creates the accounts, groups and channels of `shape`. */
  createWorld(shape: WorldShape): Promise<World>;
  /**
   * A connection of `member` that receives every channel of `group` and posts to `channelId`
   * (default: the group's first channel), from source address `localAddress`.
   */
  connSpec(group: Group, member: Identity, opts?: { channelId?: string; localAddress?: string }): ConnSpec;
  /** Seeds `count` messages into `channelId` as `member` (history scenario); resolves with their ids, oldest first. */
  seedMessages?(group: Group, member: Identity, channelId: string, count: number): Promise<string[]>;
  stop(): Promise<void>;
}

export type SystemStarter = (opts: StartOptions) => Promise<RunningSystem>;

export type { SystemName };

/**
 * Connection specs for many connections to one group: each call takes the next member and the
 * next client source address in turn, so sessions spread over accounts and ephemeral port ranges.
 */
export function roundRobinSpecs(sys: RunningSystem, group: Group, addressCount = 8): () => ConnSpec {
  const addrs = sourceAddresses(addressCount);
  let next = 0;
  return () => {
    const i = next++;
    return sys.connSpec(group, group.members[i % group.members.length]!, { localAddress: addrs[i % addrs.length] });
  };
}
