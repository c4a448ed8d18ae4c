/**
 * Builds a session's READY payload and the topics it must hold: the user, every guild with the
 * channels the user can see (asked of each guild's actor, so it matches hot state), the newest
 * DMs, the stream positions at which the session starts, and (engine/people/ready-people.ts)
 * the user's profile, relationships and the presences of friends and guild members.
 */
import type { Dm, ReadyPayload, StreamPosition } from '../../protocol/types.ts';
import { summaries } from '../people/people-views.ts';
import { ReadBatcher } from '../people/read-batcher.ts';
import { readyPeople, type ReadyPeopleDeps } from '../people/ready-people.ts';
import type { ReadyRecord } from '../../storage/records.ts';
import { MUTE_TYPES } from '../user/user-actor.ts';
import type { ProfileStore, ReadyStore } from '../../storage/ports.ts';
import type { Router } from '../cluster/router.ts';
import { streams, topics } from '../cluster/topics.ts';
import { toWireDm } from '../dm/dm-view.ts';
import type { DmSnapshotReply } from '../dm/dm-actor.ts';
import type { GuildSnapshotReply } from '../guild/guild-actor.ts';
import type { UserCommand } from '../user/user-commands.ts';
import type { GuildCommand } from '../guild/guild-commands.ts';
import type { DmCommand } from '../dm/dm-commands.ts';
import { CommandError } from '../command-error.ts';
import { ErrorCode } from '../../protocol/opcodes.ts';

export interface ReadyDeps extends ReadyPeopleDeps {
  router: Router;
  /** The database part of READY (ReadyStore.loadMany, shared by concurrent IDENTIFYs). */
  loader: ReadyLoader;
  /** DMs listed in READY (most recent activity first); all DMs are subscribed regardless. */
  readyDmLimit: number;
  /** For the rare participant who joined a listed DM after the database read. */
  profiles: Pick<ProfileStore, 'getMany'>;
}

/** A guild or DM deleted, or left, between listing and asking is skipped; anything else fails READY. */
function skipGone(err: unknown): null {
  if (err instanceof CommandError && GONE.has(err.code)) return null;
  throw err;
}
const GONE: ReadonlySet<number> = new Set([ErrorCode.UNKNOWN_GUILD, ErrorCode.UNKNOWN_DM, ErrorCode.NOT_MEMBER]);

/**
 * Gathers the database reads of concurrent IDENTIFYs, group-commit style (a ReadBatcher): the users
 * asked for while `maxInFlight` reads are running (or within the same tick) are read together by
 * the next ReadyStore.loadMany statement — still one snapshot per user. Alone, a request waits one
 * tick.
 */
export class ReadyLoader {
  private readonly reads: ReadBatcher<ReadyRecord | null>;

  constructor(
    store: ReadyStore,
    opts: { membersPerGuild: number; dmLimit: number; maxInFlight?: number; maxBatch?: number },
  ) {
    const load = { membersPerGuild: opts.membersPerGuild, dmLimit: opts.dmLimit };
    this.reads = new ReadBatcher(async (userIds) => {
      const found = await store.loadMany(userIds, load);
      return new Map(userIds.map((id) => [id, found.get(id) ?? null]));
    }, { maxInFlight: opts.maxInFlight ?? 4, maxBatch: opts.maxBatch ?? 200 });
  }

  /** The user's ReadyRecord, or null when the user does not exist. */
  async load(userId: string): Promise<ReadyRecord | null> {
    return (await this.reads.get([userId])).get(userId) ?? null;
  }
}

/**
 * One database read (ReadyLoader, shared with concurrent IDENTIFYs) and, concurrently with it, the user's stream
 * position; then, all at once, the guild snapshots, the snapshots of the listed DMs and the
 * presences (one ephemeral-store round trip).
 */
export async function buildReady(deps: ReadyDeps, userId: string, sessionId: string): Promise<{ payload: ReadyPayload; topics: string[] }> {
  const [rec, userPos] = await Promise.all([
    deps.loader.load(userId),
    deps.router.ask<StreamPosition>('user', userId, { type: 'position' } satisfies UserCommand),
  ]);
  if (!rec) throw new CommandError(ErrorCode.AUTH_FAILED, 'user no longer exists');
  const subscribed: string[] = [topics.user(userId)];
  const positions: Record<string, StreamPosition> = { [streams.user(userId)]: userPos };

  const listed = rec.dms.slice(0, deps.readyDmLimit);
  const [snapshots, dmPositions, people] = await Promise.all([
    Promise.all(rec.guildIds.map((id) =>
      deps.router.ask<GuildSnapshotReply>('guild', id, { method: 'snapshot', userId, nickname: rec.profile.nickname } satisfies GuildCommand).catch(skipGone))),
    Promise.all(listed.map((d) =>
      deps.router.ask<DmSnapshotReply>('dm', d.id, { method: 'snapshot', userId } satisfies DmCommand).catch(skipGone))),
    readyPeople(deps, rec),
  ]);
  const guilds = [];
  for (const s of snapshots) {
    if (!s) continue;
    guilds.push(s.guild);
    subscribed.push(...s.topics);
    positions[streams.guild(s.guild.id)] = s.position;
  }

  // Each listed DM as its actor holds it, with the position taken at the same moment (as guilds
  // do): a change made after the database read is then either in READY or replayed after it.
  const held = dmPositions.filter((s): s is DmSnapshotReply => s !== null);
  const profiles = [...rec.dmProfiles];
  const known = new Set(profiles.map((p) => p.id));
  const missing = [...new Set(held.flatMap((s) => s.dm.participantIds))].filter((id) => !known.has(id));
  if (missing.length > 0) profiles.push(...(await deps.profiles.getMany(missing)));
  const users = summaries(profiles);
  const dms: Dm[] = held.map((s) => toWireDm(s.dm, users));
  for (const s of held) positions[streams.dm(s.dm.id)] = s.position;
  for (const d of rec.dms) subscribed.push(topics.dm(d.id));

  return {
    payload: {
      sessionId, user: people.user, relationships: people.relationships, presences: people.presences, guilds, dms, streams: positions,
      readStates: rec.readStates.map((r) => ({ channelId: r.channelId, lastReadId: r.lastReadId, mentionCount: r.mentionCount })),
      mutes: rec.mutes.map((m) => ({ targetId: m.targetId, type: MUTE_TYPES[m.targetType]!, until: m.until })),
    },
    topics: subscribed,
  };
}
