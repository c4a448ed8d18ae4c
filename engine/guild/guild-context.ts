/**
 * What a guild handler works with: the actor's state, its dependencies, permission checks that
 * throw documented errors, and `publish`, which hands persisted domain events to the broadcast
 * and audit subscribers and then brings every affected session's topics in line with what it may
 * now see.
 */
import type { Logger } from 'pino';
import type { JoinPresenceDeps } from './join-presence.ts';
import { ErrorCode, EventType } from '../../protocol/opcodes.ts';
import { has, Permission, type PermissionName } from '../../protocol/permissions.ts';
import type { Clock, SnowflakeGenerator } from '../../protocol/ids.ts';
import type { User } from '../../protocol/types.ts';
import type { GuildStore, MessageStore, MuteStore, ReadStateStore, UserStore } from '../../storage/ports.ts';
import type { MessageWriter } from '../../storage/messages/message-writer.ts';
import type { EventStream } from '../actors/event-stream.ts';
import type { Bus } from '../cluster/bus.ts';
import { topics } from '../cluster/topics.ts';
import { CommandError, notFound } from '../command-error.ts';
import type { MessageLog } from '../messages/message-log.ts';
import type { MessagePlace } from '../messages/message-ops.ts';
import { publishEphemeral } from '../actors/ephemeral-event.ts';
import type { AuditProjection } from './audit-projection.ts';
import { broadcast } from './broadcast-projection.ts';
import type { GuildDomainEvent } from './guild-events.ts';
import type { GuildState } from './guild-state.ts';
import { channelView } from './guild-views.ts';

export interface GuildActorDeps {
  guilds: GuildStore;
  users: UserStore;
  messages: MessageStore;
  readStates: ReadStateStore;
  mutes: MuteStore;
  writer: MessageWriter;
  audit: AuditProjection;
  bus: Bus;
  ids: SnowflakeGenerator;
  clock: Clock;
  historyCacheSize: number;
  logger: Logger;
  /** Presence for new members (see join-presence.ts); absent: joins announce no presence. */
  joinPresence?: Omit<JoinPresenceDeps, 'bus'>;
}

/** Who could see what before a change: userId → visible channel ids, or null for non-members. */
export type VisibilityBefore = Map<string, Set<string> | null>;

const NAMES = Object.entries(Permission) as [PermissionName, bigint][];
const missingNames = (have: bigint, need: bigint) => NAMES.filter(([, bit]) => (need & bit) !== 0n && (have & bit) === 0n).map(([n]) => n);

export class GuildContext {
  /** The guild's state; null until created and after deletion. */
  current: GuildState | null;
  /** `${channelId}:${userId}` → last broadcast typing time. */
  readonly lastTyping = new Map<string, number>();

  constructor(
    readonly id: string,
    readonly deps: GuildActorDeps,
    readonly stream: EventStream,
    initial: GuildState | null,
    readonly log: (channelId: string) => MessageLog,
  ) {
    this.current = initial;
  }

  get state(): GuildState {
    if (!this.current) throw notFound(ErrorCode.UNKNOWN_GUILD, 'guild');
    return this.current;
  }

  now(): number {
    return this.deps.clock.now();
  }

  emit = (topic: string, type: string, data: unknown): void => this.stream.emit(topic, type, data);

  /** The message operations' view of one channel. */
  place(channelId: string): MessagePlace {
    return {
      log: this.log(channelId),
      guildId: this.id,
      topic: topics.channel(channelId),
      emit: this.emit,
      ephemeral: (topic, type, data) => publishEphemeral(this.deps.bus, this.stream, topic, type, data),
      now: () => this.now(),
    };
  }

  /** Throws MISSING_PERMISSIONS (details.missing lists them) unless `userId` has all of `needed` (in `channelId` if given). */
  require(userId: string, needed: bigint, channelId?: string): bigint {
    const have = channelId === undefined ? this.state.permissions(userId) : this.state.channelPermissions(userId, channelId);
    if (!has(have, needed)) {
      throw new CommandError(ErrorCode.MISSING_PERMISSIONS, 'missing permissions', { missing: missingNames(have, needed) });
    }
    return have;
  }

  /** The channel, if `userId` can view it; unknown and invisible channels look the same. */
  viewableChannel(userId: string, channelId: string) {
    const channel = this.state.channels.get(channelId);
    if (!channel || !this.state.canView(userId, channelId)) throw notFound(ErrorCode.UNKNOWN_CHANNEL, 'channel');
    return channel;
  }

  requireMember(userId: string) {
    const m = this.state.members.get(userId);
    if (!m) throw notFound(ErrorCode.UNKNOWN_MEMBER, 'member');
    return m;
  }

  requireOutranks(actorId: string, targetId: string): void {
    if (!this.state.outranks(actorId, targetId)) throw new CommandError(ErrorCode.HIERARCHY, 'target is not below your highest role');
  }

  async user(userId: string): Promise<User> {
    const u = await this.deps.users.findById(userId);
    if (!u) throw notFound(ErrorCode.UNKNOWN_USER, 'user');
    return { id: u.id, nickname: u.nickname };
  }

  async users(ids: readonly string[]): Promise<Map<string, User>> {
    const rows = await this.deps.users.findManyByIds(ids);
    return new Map(rows.map((u) => [u.id, { id: u.id, nickname: u.nickname }]));
  }

  /** Records what `affected` can see now; pass the result to publish() after mutating. */
  capture(affected: Iterable<string> | 'all'): VisibilityBefore {
    const state = this.state;
    const out: VisibilityBefore = new Map();
    for (const userId of affected === 'all' ? state.members.keys() : affected) {
      out.set(userId, state.isMember(userId) ? new Set(state.visibleChannels(userId).map((c) => c.id)) : null);
    }
    return out;
  }

  /** Broadcasts and audits `events` (already persisted), then syncs the topics of `before`'s users. */
  publish(events: readonly GuildDomainEvent[], before?: VisibilityBefore): void {
    for (const e of events) {
      broadcast(e, this.state, this.emit);
      this.deps.audit.record(this.id, e);
    }
    if (before) this.sync(before);
  }

  /**
   * Brings the topics of `before`'s users in line with what they may see now, telling each user
   * which channels appeared (CHANNEL_CREATE) or disappeared (CHANNEL_DELETE) for them, except for
   * `quiet` channels, whose event goes to the channel topic itself.
   */
  sync(before: VisibilityBefore, quiet: ReadonlySet<string> = new Set()): void {
    const state = this.state;
    for (const [userId, was] of before) {
      const userTopic = topics.user(userId);
      if (!state.isMember(userId)) {
        if (was === null) continue;
        this.deps.bus.retopic(userId, { unsubscribe: [topics.guild(this.id), ...[...was].map(topics.channel)] });
        this.emit(userTopic, EventType.GUILD_DELETE, { id: this.id });
        continue;
      }
      if (was === null) continue; // joins subscribe and send GUILD_CREATE themselves
      const now = new Set(state.visibleChannels(userId).map((c) => c.id));
      const gained = [...now].filter((id) => !was.has(id));
      const lost = [...was].filter((id) => !now.has(id));
      if (gained.length === 0 && lost.length === 0) continue;
      this.deps.bus.retopic(userId, { subscribe: gained.map(topics.channel), unsubscribe: lost.map(topics.channel) });
      for (const id of gained) if (!quiet.has(id)) this.emit(userTopic, EventType.CHANNEL_CREATE, channelView(state, id));
      for (const id of lost) if (state.channels.has(id)) this.emit(userTopic, EventType.CHANNEL_DELETE, { id, guildId: this.id });
    }
  }
}
