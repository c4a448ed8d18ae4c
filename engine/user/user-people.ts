/**
 * The people side of a UserActor: the user's profile, relationships, presence and conversation
 * list. Runs inside the user's actor, one command at a time, so it is the only writer of the user's
 * presence keys and the only emitter on the user's stream.
 *
 * Relationship changes between two users: the actor of the user who acts applies the change to
 * both sides in one transaction (RelationshipStore.transition), tells its own sessions, and asks
 * the other user's actor — fire-and-forget, a user actor never awaits another — to re-read the
 * pair and tell the other user's sessions. Re-reading (instead of forwarding the change) makes the
 * two users' views converge whatever order concurrent changes land in.
 *
 * Presence: see engine/people/presence-model.ts for the semantics and presence-store.ts for
 * where it lives. Updates of others' view are published once per shared guild (on g:<guildId>)
 * and once per friend who shares none of those guilds (on u:<friendId>), encoded once; the
 * user's own sessions get their own copy (with `invisible` as is) on u:<userId>. Presence events
 * are ephemeral: seq 0 on the user's stream, never replayed.
 */
import type { Logger } from 'pino';
import { encodeEvent } from '../../protocol/codec.ts';
import { compareSnowflakes, type Clock, type SnowflakeGenerator } from '../../protocol/ids.ts';
import { DmType, ErrorCode, EventType, RelationshipType } from '../../protocol/opcodes.ts';
import { PEOPLE_LIMITS } from '../../protocol/people-payloads.ts';
import type { Conversation, Dm, Presence, Profile, Relationship, SelfProfile, UserSummary } from '../../protocol/types.ts';
import type {
  DmStore, GuildStore, MessageStore, ProfilePatch, ProfileStore, ReadStateStore, RelationshipStore, UserStore,
} from '../../storage/ports.ts';
import { ConflictError, StorageUnavailableError, type DmRecord, type ProfileRecord, type RelationshipRecord } from '../../storage/records.ts';
import { later } from '../actors/actor-system.ts';
import type { EventStream } from '../actors/event-stream.ts';
import type { Bus } from '../cluster/bus.ts';
import type { Router } from '../cluster/router.ts';
import { topics } from '../cluster/topics.ts';
import { CommandError, notFound } from '../command-error.ts';
import { toWireDm } from '../dm/dm-view.ts';
import { toWireMessage } from '../messages/message-view.ts';
import { summaries, toProfile, toRelationship, toSelfProfile, toSummary } from '../people/people-views.ts';
import { aggregate, presenceSeenByOthers, visibleCustom, visibleStatus, type SessionStatus } from '../people/presence-model.ts';
import { presenceKeys, type PresenceStore, type StoredPresence, type StoredSession } from '../people/presence-store.ts';
import { decide, isBlocked, type RelationshipAction } from '../people/relationship-rules.ts';
import type { PeopleCommand, UserCommand } from './user-commands.ts';

export interface UserPeopleDeps {
  users: UserStore;
  profiles: ProfileStore;
  relationships: RelationshipStore;
  dms: DmStore;
  guilds: GuildStore;
  messages: MessageStore;
  /** Read states, for the unread flags of dm.list (absent: everything counts as read up to '0'). */
  readStates?: Pick<ReadStateStore, 'list'>;
  presence: PresenceStore;
  /** This node's presence id: its connections' heartbeat is its own liveness. */
  nodeId: string;
  presenceGraceMs: number;
  bus: Bus;
  router: Router;
  ids: SnowflakeGenerator;
  clock: Clock;
  logger: Logger;
}

/** userId → the end of that user's presence lane (see UserPeople.inLane); absent when idle. */
const PRESENCE_LANES = new Map<string, Promise<void>>();

const invalid = (field: string, reason: string, message: string) => new CommandError(ErrorCode.INVALID_PAYLOAD, message, { field, reason });

export class UserPeople {
  /** Identifies the running grace period; null when none is known (e.g. the actor was reloaded). */
  private graceToken: number | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private profile: ProfileRecord | null = null;

  constructor(private readonly userId: string, private readonly deps: UserPeopleDeps, private readonly stream: EventStream) {}

  handle(cmd: PeopleCommand): unknown {
    switch (cmd.type) {
      case 'profile.get':
        return this.selfProfile();
      case 'profile.update':
        return this.updateProfile(cmd.patch);
      case 'user.get':
        return this.getUser(cmd.targetId);
      case 'user.search':
        return this.search(cmd.prefix, cmd.limit);
      case 'relationship.list':
        return this.listRelationships();
      case 'relationship':
        return this.act(cmd.action, cmd.targetId, cmd.nickname);
      case 'relationship.sync':
        return this.sync(cmd.otherId);
      // Presence commands run in the presence lane, outside the mailbox (see inLane).
      case 'presence.open':
        return later(this.inLane(() => this.openSession(cmd.field, cmd.loginId, cmd.status)));
      case 'presence.close':
        return later(this.inLane(() => this.closeSession(cmd.field)));
      case 'presence.set':
        return later(this.inLane(() => this.setPresence(cmd.loginId, cmd.status, cmd.customStatus)));
      case 'presence.expire':
        return later(this.inLane(() => this.expire(cmd.token)));
      case 'presence.recheck':
        return later(this.inLane(() => this.recheck()));
      case 'dm.list':
        return this.listConversations(cmd.before, cmd.limit);
      case 'dm.group.create':
        return this.createGroupDm(cmd.userIds, cmd.name);
    }
  }

  /** Called when the actor is dropped: a pending grace timer still fires (it asks a fresh actor). */
  onEvict(): void {
    this.graceTimer = null;
  }

  // ---- profiles ---------------------------------------------------------------------------------

  private async myProfile(): Promise<ProfileRecord> {
    this.profile ??= await this.deps.profiles.get(this.userId);
    if (!this.profile) throw notFound(ErrorCode.UNKNOWN_USER, 'user');
    return this.profile;
  }

  private async selfProfile(): Promise<SelfProfile> {
    const [profile, user] = await Promise.all([this.deps.profiles.get(this.userId), this.deps.users.findById(this.userId)]);
    if (!profile || !user) throw notFound(ErrorCode.UNKNOWN_USER, 'user');
    this.profile = profile;
    return toSelfProfile(profile, user.email);
  }

  private async updateProfile(patch: ProfilePatch): Promise<SelfProfile> {
    const before = await this.myProfile();
    let updated: ProfileRecord | null;
    try {
      updated = await this.deps.profiles.update(this.userId, patch);
    } catch (err) {
      if (err instanceof ConflictError && err.field === 'nickname') throw new CommandError(ErrorCode.NICKNAME_TAKEN, 'nickname is already taken', { field: 'nickname' });
      throw err;
    }
    const user = await this.deps.users.findById(this.userId);
    if (!updated || !user) throw notFound(ErrorCode.UNKNOWN_USER, 'user');
    this.profile = updated;
    const self = toSelfProfile(updated, user.email);
    if (JSON.stringify(toProfile(before)) !== JSON.stringify(toProfile(updated))) {
      this.stream.emit(topics.user(this.userId), EventType.USER_UPDATE, self);
      const a = toSummary(before);
      const b = toSummary(updated);
      if (a.nickname !== b.nickname || a.displayName !== b.displayName || a.avatarUrl !== b.avatarUrl) {
        // Best effort: the profile is saved; presence (ephemeral) may be unavailable. In the
        // presence lane, so it publishes the status as it stands after earlier presence commands.
        await this.inLane(() => this.deps.presence.get(this.userId).then((p) => this.publishPresence(p, p, true)))
          .catch((err) => this.deps.logger.warn({ err, userId: this.userId }, 'profile change not published to presence'));
      }
    }
    return self;
  }

  private async getUser(targetId: string): Promise<Profile> {
    const p = await this.deps.profiles.get(targetId);
    if (!p) throw notFound(ErrorCode.UNKNOWN_USER, 'user');
    return toProfile(p);
  }

  private async search(prefix: string, limit: number): Promise<UserSummary[]> {
    return (await this.deps.profiles.searchByNicknamePrefix(prefix, limit)).map(toSummary);
  }

  // ---- relationships ----------------------------------------------------------------------------

  private async listRelationships(): Promise<Relationship[]> {
    const rows = await this.deps.relationships.list(this.userId);
    const profiles = new Map((await this.deps.profiles.getMany(rows.map((r) => r.otherId))).map((p) => [p.id, p]));
    return rows.filter((r) => profiles.has(r.otherId)).map((r) => toRelationship(r, profiles.get(r.otherId)!));
  }

  private async act(action: RelationshipAction, targetId: string | null, nickname: string | null): Promise<Relationship | null> {
    let target: ProfileRecord | null;
    if (action === 'request') {
      if ((nickname === null) === (targetId === null)) throw invalid('nickname', 'give exactly one of nickname and userId', 'give exactly one of nickname and userId');
      target = nickname !== null ? await this.deps.profiles.findByNickname(nickname) : await this.deps.profiles.get(targetId!);
    } else target = await this.deps.profiles.get(targetId!);
    if (!target) throw notFound(ErrorCode.UNKNOWN_USER, 'user');
    if (target.id === this.userId) throw invalid(nickname !== null ? 'nickname' : 'userId', 'is yourself', 'you cannot do that with yourself');

    let before: { ab: number | null; ba: number | null } = { ab: null, ba: null };
    const after = await this.deps.relationships.transition(this.userId, target.id, this.deps.clock.now(), (s) => {
      before = { ab: s.ab, ba: s.ba };
      return decide(action, s);
    });
    await this.tell(target, before.ab, after.ab);
    if ((after.ba?.type ?? null) !== before.ba) {
      const sync: UserCommand = { type: 'relationship.sync', otherId: this.userId };
      this.deps.router.ask('user', target.id, sync).catch((err) => this.deps.logger.error({ err, userId: target.id }, 'relationship sync failed'));
    }
    return after.ab ? toRelationship(after.ab, target) : null;
  }

  private async sync(otherId: string): Promise<null> {
    const [row, other] = await Promise.all([this.deps.relationships.get(this.userId, otherId), this.deps.profiles.get(otherId)]);
    if (other) await this.tell(other, undefined, row);
    return null;
  }

  /** Tells this user's sessions their relationship with `other` is now `row` (when it changed from `was`). */
  private async tell(other: ProfileRecord, was: number | null | undefined, row: RelationshipRecord | null): Promise<void> {
    const now = row?.type ?? null;
    if (was !== undefined && was === now) return;
    const topic = topics.user(this.userId);
    if (row) this.stream.emit(topic, EventType.RELATIONSHIP_ADD, toRelationship(row, other));
    else this.stream.emit(topic, EventType.RELATIONSHIP_REMOVE, { userId: other.id });
    if (now === RelationshipType.FRIEND && was !== RelationshipType.FRIEND) {
      // A new friend: show their presence now (later changes arrive through the friend fan-out).
      // Best effort: the relationship is committed whether or not presence can be read.
      try {
        const p = await this.deps.presence.get(other.id);
        const presence: Presence = { ...presenceSeenByOthers(other.id, p.status, p.custom), user: toSummary(other) };
        this.deps.bus.publish(topic, encodeEvent(EventType.PRESENCE_UPDATE, topics.user(other.id), 0, 0, presence));
      } catch (err) {
        this.deps.logger.warn({ err, userId: this.userId }, "new friend's presence not sent");
      }
    }
  }

  // ---- presence ---------------------------------------------------------------------------------

  /**
   * Runs `work` after every presence operation of this user queued before it. Presence commands
   * read-modify-write the user's presence keys, so they run one at a time, in mailbox order — but
   * in this lane rather than in the mailbox (`later`), so the user's other commands, above all
   * READY's `position`, do not wait behind their ephemeral-store round trips during a reconnect
   * storm. The lanes are per process, not per actor instance: an actor evicted and rehydrated
   * meanwhile still queues behind the work of the previous instance.
   */
  private inLane<T>(work: () => Promise<T>): Promise<T> {
    const run = (PRESENCE_LANES.get(this.userId) ?? Promise.resolve()).then(work);
    const tail = run.then(() => undefined, () => undefined);
    PRESENCE_LANES.set(this.userId, tail);
    void tail.then(() => {
      if (PRESENCE_LANES.get(this.userId) === tail) PRESENCE_LANES.delete(this.userId);
    });
    return run;
  }

  /** The user's stored presence and connections (one round trip), without the connections of nodes that died (which are removed). */
  private async presenceState(): Promise<{ sessions: StoredSession[]; stored: StoredPresence }> {
    const { sessions, stored } = await this.deps.presence.state(this.userId);
    return { sessions: await this.withoutDeadNodes(sessions), stored };
  }

  private async withoutDeadNodes(sessions: StoredSession[]): Promise<StoredSession[]> {
    const nodes = new Set(sessions.map((s) => s.nodeId));
    nodes.delete(this.deps.nodeId);
    const dead = new Set<string>();
    for (const n of nodes) if (!(await this.deps.presence.isNodeAlive(n))) dead.add(n);
    if (dead.size === 0) return sessions;
    await this.deps.presence.deleteSessions(this.userId, sessions.filter((s) => dead.has(s.nodeId)).map((s) => s.field));
    return sessions.filter((s) => !dead.has(s.nodeId));
  }

  /**
   * A new connection. Its status is `requested` (from IDENTIFY) — which then moves the login's other
   * connections too and becomes the preferred status, exactly as presence.set — else the status of
   * its login's other connections, else the preferred one, else online.
   */
  private async openSession(field: string, loginId: string, requested?: SessionStatus): Promise<null> {
    this.cancelGrace();
    const { sessions, stored } = await this.presenceState();
    const status: SessionStatus = requested ?? sessions.find((s) => s.loginId === loginId)?.status ?? stored.preferred ?? 'online';
    const nodeId = field.split('.')[1]!;
    const moved = requested ? sessions.filter((s) => s.loginId === loginId && s.field !== field && s.status !== requested) : [];
    for (const s of moved) s.status = status;
    await Promise.all([
      this.deps.presence.setSessions(this.userId, { [field]: status, ...Object.fromEntries(moved.map((s) => [s.field, status])) }),
      this.deps.presence.kv.sAdd(presenceKeys.nodeUsers(nodeId), this.userId),
    ]);
    const changes: Partial<StoredPresence> = requested && requested !== 'idle' ? { preferred: requested } : {};
    await this.recompute([...sessions.filter((s) => s.field !== field), { field, loginId, nodeId, status }], stored, changes);
    return null;
  }

  private async closeSession(field: string): Promise<null> {
    await this.deps.presence.deleteSessions(this.userId, [field]);
    const { sessions, stored } = await this.presenceState();
    const nodeId = field.split('.')[1]!;
    if (!sessions.some((s) => s.nodeId === nodeId)) await this.deps.presence.kv.sRem(presenceKeys.nodeUsers(nodeId), this.userId);
    if (sessions.length === 0 && stored.status !== 'offline') this.startGrace();
    else await this.recompute(sessions, stored, {});
    return null;
  }

  private async setPresence(loginId: string, status: SessionStatus | undefined, custom: string | null | undefined): Promise<Presence> {
    try {
      return await this.applyPresence(loginId, status, custom);
    } catch (err) {
      if (err instanceof CommandError) throw err;
      throw new StorageUnavailableError(err); // the ephemeral store: UNAVAILABLE, retryable
    }
  }

  private async applyPresence(loginId: string, status: SessionStatus | undefined, custom: string | null | undefined): Promise<Presence> {
    const { sessions, stored } = await this.presenceState();
    const changes: Partial<StoredPresence> = {};
    if (status !== undefined) {
      const mine = sessions.filter((s) => s.loginId === loginId);
      await this.deps.presence.setSessions(this.userId, Object.fromEntries(mine.map((s) => [s.field, status])));
      for (const s of mine) s.status = status;
      if (status !== 'idle') changes.preferred = status;
    }
    if (custom !== undefined) changes.custom = custom;
    const next = await this.recompute(sessions, stored, changes);
    return { userId: this.userId, status: next.status, customStatus: next.custom };
  }

  private async expire(token: number): Promise<null> {
    if (this.graceToken !== null && token !== this.graceToken) return null;
    this.cancelGrace();
    const { sessions, stored } = await this.presenceState();
    await this.recompute(sessions, stored, {});
    return null;
  }

  private async recheck(): Promise<null> {
    const { sessions, stored } = await this.presenceState();
    if (sessions.length === 0 && stored.status !== 'offline') {
      if (this.graceToken === null) this.startGrace();
    } else await this.recompute(sessions, stored, {});
    return null;
  }

  private startGrace(): void {
    this.cancelGrace();
    const token = (this.graceToken = this.deps.clock.now() + Math.random());
    const fire = () => {
      const cmd: UserCommand = { type: 'presence.expire', token };
      this.deps.router.ask('user', this.userId, cmd).catch((err) => this.deps.logger.error({ err, userId: this.userId }, 'presence expiry failed'));
    };
    if (this.deps.presenceGraceMs <= 0) return void queueMicrotask(fire);
    this.graceTimer = setTimeout(fire, this.deps.presenceGraceMs);
    this.graceTimer.unref();
  }

  private cancelGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = null;
    this.graceToken = null;
  }

  /** Stores the aggregate of `sessions` (with `changes`) and publishes what changed. */
  private async recompute(sessions: readonly StoredSession[], stored: StoredPresence, changes: Partial<StoredPresence>): Promise<StoredPresence> {
    const next: StoredPresence = { ...stored, ...changes, status: aggregate(sessions.map((s) => s.status)) };
    if (next.status !== stored.status || next.custom !== stored.custom || next.preferred !== stored.preferred) {
      await this.deps.presence.put(this.userId, next);
    }
    await this.publishPresence(stored, next, false);
    return next;
  }

  /** Publishes the change from `prev` to `next` to the user's sessions and to everyone who sees them. */
  private async publishPresence(prev: StoredPresence, next: StoredPresence, force: boolean): Promise<void> {
    const selfChanged = force || prev.status !== next.status || prev.custom !== next.custom;
    const seenBefore = visibleStatus(prev.status);
    const seenNow = visibleStatus(next.status);
    const othersChanged = force || seenBefore !== seenNow || visibleCustom(seenBefore, prev.custom) !== visibleCustom(seenNow, next.custom);
    if (!selfChanged && !othersChanged) return;
    const user = toSummary(await this.myProfile());
    const stream = this.stream.name;
    const epoch = this.stream.epoch;
    if (selfChanged) {
      const own: Presence = { userId: this.userId, status: next.status, customStatus: next.custom, user };
      this.deps.bus.publish(topics.user(this.userId), encodeEvent(EventType.PRESENCE_UPDATE, stream, epoch, 0, own));
    }
    if (!othersChanged) return;
    const seen: Presence = { ...presenceSeenByOthers(this.userId, next.status, next.custom), user };
    const bytes = encodeEvent(EventType.PRESENCE_UPDATE, stream, epoch, 0, seen);
    const guildIds = await this.deps.guilds.listGuildIdsOfUser(this.userId);
    const friends = await this.deps.relationships.friendsOutside(this.userId, guildIds);
    for (const g of guildIds) this.deps.bus.publish(topics.guild(g), bytes);
    for (const f of friends) this.deps.bus.publish(topics.user(f), bytes);
  }

  // ---- conversations ----------------------------------------------------------------------------

  private async listConversations(before: string | null, limit: number): Promise<Conversation[]> {
    const [page, reads] = await Promise.all([
      this.deps.dms.listPage(this.userId, { before, limit }),
      this.deps.readStates ? this.deps.readStates.list(this.userId) : Promise.resolve([]),
    ]);
    const users = summaries(await this.deps.profiles.getMany(page.flatMap((p) => p.dm.participantIds)));
    const last = await Promise.all(page.map((p) => (p.lastMessageId ? this.deps.messages.findById(p.dm.id, p.lastMessageId) : null)));
    const readBy = new Map(reads.map((r) => [r.channelId, r]));
    return page.map((p, i) => {
      const m = last[i] ?? null;
      const read = readBy.get(p.dm.id);
      const lastReadId = (read?.lastReadId ?? '0') as Conversation['lastReadId'];
      const unread = m !== null && m.authorId !== this.userId && (lastReadId === '0' || compareSnowflakes(m.id, lastReadId) > 0);
      return { dm: { ...toWireDm(p.dm, users), lastMessageId: m?.id ?? null }, lastMessage: m ? toWireMessage(m) : null, lastReadId, unread, mentionCount: read?.mentionCount ?? 0 };
    });
  }

  private async createGroupDm(userIds: readonly string[], name: string | null): Promise<Dm> {
    const others = [...new Set(userIds)].filter((id) => id !== this.userId);
    if (others.length === 0) throw invalid('userIds', 'names nobody but you', 'a group DM needs at least one other user');
    if (others.length + 1 > PEOPLE_LIMITS.groupDmMaxRecipients) {
      throw new CommandError(ErrorCode.LIMIT_REACHED, `a group DM has at most ${PEOPLE_LIMITS.groupDmMaxRecipients} participants`, { limit: PEOPLE_LIMITS.groupDmMaxRecipients });
    }
    const profiles = await this.deps.profiles.getMany([this.userId, ...others]);
    if (profiles.length !== others.length + 1) throw notFound(ErrorCode.UNKNOWN_USER, 'user');
    for (const other of others) {
      const pair = await this.deps.relationships.pair(this.userId, other);
      if (isBlocked(pair)) throw new CommandError(ErrorCode.BLOCKED, 'a block between you and this user prevents adding them', { userId: other });
      if (pair.ab !== RelationshipType.FRIEND) throw new CommandError(ErrorCode.NOT_FRIENDS, 'only friends can be added to a group DM', { userId: other });
    }
    const dm: DmRecord = {
      id: this.deps.ids.next(), createdAt: this.deps.clock.now(), participantIds: [this.userId, ...others], lastMessageId: null,
      type: DmType.GROUP, name, ownerId: this.userId,
    };
    await this.deps.dms.createGroup(dm);
    const wire = toWireDm(dm, summaries(profiles));
    const change = { subscribe: [topics.dm(dm.id)] };
    this.deps.bus.retopic(this.userId, change);
    this.stream.emit(topics.user(this.userId), EventType.DM_CREATE, wire);
    for (const other of others) {
      const notify: UserCommand = { type: 'notify', eventType: EventType.DM_CREATE, data: wire, change };
      this.deps.router.ask('user', other, notify).catch((err) => this.deps.logger.error({ err, userId: other }, 'DM_CREATE to participant failed'));
    }
    return wire;
  }
}
