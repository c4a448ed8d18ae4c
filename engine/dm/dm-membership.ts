/**
 * Group DM membership and 1:1 DM blocks, inside a DmActor.
 *
 * Group DMs (up to 10 participants): any participant may rename; only the owner adds (friends
 * only, no block either way) and removes; anyone may leave, and when the owner leaves the longest
 * present participant becomes owner. Each change is persisted, then:
 *   - participants still in the DM get DM_UPDATE on d:<dmId> (the DM's stream) and a system
 *     message (MessageType DM_RECIPIENT_ADD / _REMOVE / _LEAVE, DM_NAME_CHANGE, DM_OWNER_CHANGE);
 *   - an added user's sessions subscribe to d:<dmId> and get DM_CREATE on their user stream before
 *     the system message is written, so they see it; a removed or leaving user's sessions get
 *     DM_DELETE and unsubscribe before it, so they do not.
 * A DmActor may await user actors (never the other way round), so the re-topics complete before
 * the command is answered.
 *
 * Direct DMs: a message is refused with BLOCKED while either participant blocks the other. The
 * answer is cached in the actor; relationship.block/unblock invalidate it ('blocks.changed')
 * before they reply.
 */
import type { Logger } from 'pino';
import type { Clock, SnowflakeGenerator } from '../../protocol/ids.ts';
import { DmType, ErrorCode, EventType, MessageType, RelationshipType } from '../../protocol/opcodes.ts';
import { PEOPLE_LIMITS } from '../../protocol/people-payloads.ts';
import type { Dm } from '../../protocol/types.ts';
import type { DmStore, ProfileStore, RelationshipStore } from '../../storage/ports.ts';
import type { DmRecord, MessageRecord } from '../../storage/records.ts';
import type { EventStream } from '../actors/event-stream.ts';
import type { Router } from '../cluster/router.ts';
import { topics } from '../cluster/topics.ts';
import { CommandError, forbidden, notFound } from '../command-error.ts';
import { appendMessage, type MessagePlace } from '../messages/message-ops.ts';
import { summaries } from '../people/people-views.ts';
import { isBlocked } from '../people/relationship-rules.ts';
import type { UserCommand } from '../user/user-commands.ts';
import { toWireDm } from './dm-view.ts';

/** Membership commands; `userId` is the caller, who must be a participant (checked by the DmActor). */
export type DmMembershipCommand =
  | { method: 'group.rename'; userId: string; name: string | null }
  | { method: 'group.add'; userId: string; targetId: string }
  | { method: 'group.remove'; userId: string; targetId: string }
  | { method: 'group.leave'; userId: string }
  /** A block between the participants of this direct DM may have changed. */
  | { method: 'blocks.changed'; userId: string };

export const DM_MEMBERSHIP_METHODS: ReadonlySet<string> = new Set(['group.rename', 'group.add', 'group.remove', 'group.leave', 'blocks.changed']);

export interface DmMembershipDeps {
  dms: DmStore;
  profiles: ProfileStore;
  relationships: RelationshipStore;
  router: Router;
  ids: SnowflakeGenerator;
  clock: Clock;
  logger: Logger;
}

export class DmMembership {
  /** Whether a block separates the two users of a direct DM; null = not known yet. */
  private blocked: boolean | null = null;

  constructor(private readonly deps: DmMembershipDeps, private readonly stream: EventStream, private readonly place: MessagePlace) {}

  /** Runs `send` unless this is a direct DM under a block (BLOCKED). */
  guardSend<T>(dm: DmRecord, send: () => T): T | Promise<T> {
    if (dm.type !== DmType.DIRECT || dm.participantIds.length < 2) return send();
    if (this.blocked === false) return send();
    if (this.blocked === true) throw blockedError();
    const [a, b] = dm.participantIds as [string, string];
    return this.deps.relationships.pair(a, b).then((pair) => {
      this.blocked = isBlocked(pair);
      if (this.blocked) throw blockedError();
      return send();
    });
  }

  handle(dm: DmRecord, cmd: DmMembershipCommand): Promise<unknown> {
    if (cmd.method === 'blocks.changed') {
      this.blocked = null;
      return Promise.resolve(null);
    }
    if (dm.type !== DmType.GROUP) throw forbidden('only group DMs can be renamed, joined or left');
    switch (cmd.method) {
      case 'group.rename':
        return this.rename(dm, cmd.userId, cmd.name);
      case 'group.add':
        return this.add(dm, cmd.userId, cmd.targetId);
      case 'group.remove':
        return this.remove(dm, cmd.userId, cmd.targetId);
      case 'group.leave':
        return this.leave(dm, cmd.userId);
    }
  }

  private async rename(dm: DmRecord, userId: string, name: string | null): Promise<Dm> {
    if (dm.name === name) return this.wire(dm);
    await this.deps.dms.updateGroup(dm.id, { name });
    dm.name = name;
    const wire = await this.wire(dm);
    this.stream.emit(topics.dm(dm.id), EventType.DM_UPDATE, wire);
    await this.system(dm, MessageType.DM_NAME_CHANGE, userId, name ?? '', []);
    return wire;
  }

  private async add(dm: DmRecord, userId: string, targetId: string): Promise<Dm> {
    if (dm.ownerId !== userId) throw forbidden('only the owner of a group DM can add participants');
    if (dm.participantIds.includes(targetId)) throw new CommandError(ErrorCode.ALREADY_MEMBER, 'already a participant');
    if (dm.participantIds.length >= PEOPLE_LIMITS.groupDmMaxRecipients) {
      throw new CommandError(ErrorCode.LIMIT_REACHED, `a group DM has at most ${PEOPLE_LIMITS.groupDmMaxRecipients} participants`, { limit: PEOPLE_LIMITS.groupDmMaxRecipients });
    }
    const [target, pair] = await Promise.all([this.deps.profiles.get(targetId), this.deps.relationships.pair(userId, targetId)]);
    if (!target) throw notFound(ErrorCode.UNKNOWN_USER, 'user');
    if (isBlocked(pair)) throw new CommandError(ErrorCode.BLOCKED, 'a block between you and this user prevents adding them');
    if (pair.ab !== RelationshipType.FRIEND) throw new CommandError(ErrorCode.NOT_FRIENDS, 'only friends can be added to a group DM');
    await this.deps.dms.addParticipant(dm.id, targetId, this.deps.clock.now());
    dm.participantIds = [...dm.participantIds, targetId];
    const wire = await this.wire(dm);
    this.stream.emit(topics.dm(dm.id), EventType.DM_UPDATE, wire);
    await this.notify(targetId, EventType.DM_CREATE, wire, { subscribe: [topics.dm(dm.id)] });
    await this.system(dm, MessageType.DM_RECIPIENT_ADD, userId, '', [targetId]);
    return wire;
  }

  private async remove(dm: DmRecord, userId: string, targetId: string): Promise<Dm> {
    if (dm.ownerId !== userId) throw forbidden('only the owner of a group DM can remove participants');
    if (targetId === userId) throw forbidden('use dm.group.leave to leave');
    if (!dm.participantIds.includes(targetId)) throw notFound(ErrorCode.UNKNOWN_MEMBER, 'participant');
    await this.deps.dms.removeParticipant(dm.id, targetId);
    dm.participantIds = dm.participantIds.filter((id) => id !== targetId);
    await this.notify(targetId, EventType.DM_DELETE, { id: dm.id }, { unsubscribe: [topics.dm(dm.id)] });
    const wire = await this.wire(dm);
    this.stream.emit(topics.dm(dm.id), EventType.DM_UPDATE, wire);
    await this.system(dm, MessageType.DM_RECIPIENT_REMOVE, userId, '', [targetId]);
    return wire;
  }

  private async leave(dm: DmRecord, userId: string): Promise<null> {
    await this.deps.dms.removeParticipant(dm.id, userId);
    dm.participantIds = dm.participantIds.filter((id) => id !== userId);
    const newOwner = dm.ownerId === userId ? (dm.participantIds[0] ?? null) : null;
    if (dm.ownerId === userId) {
      await this.deps.dms.updateGroup(dm.id, { ownerId: newOwner });
      dm.ownerId = newOwner;
    }
    await this.notify(userId, EventType.DM_DELETE, { id: dm.id }, { unsubscribe: [topics.dm(dm.id)] });
    if (dm.participantIds.length === 0) return null;
    this.stream.emit(topics.dm(dm.id), EventType.DM_UPDATE, await this.wire(dm));
    await this.system(dm, MessageType.DM_RECIPIENT_LEAVE, userId, '', []);
    if (newOwner) await this.system(dm, MessageType.DM_OWNER_CHANGE, userId, '', [newOwner]);
    return null;
  }

  private async wire(dm: DmRecord): Promise<Dm> {
    return toWireDm(dm, summaries(await this.deps.profiles.getMany(dm.participantIds)));
  }

  /** Re-topics `userId`'s sessions and emits one event on their user stream (awaited: dm → user may await). */
  private async notify(userId: string, eventType: string, data: unknown, change: { subscribe?: string[]; unsubscribe?: string[] }): Promise<void> {
    const cmd: UserCommand = { type: 'notify', eventType, data, change };
    try {
      await this.deps.router.ask('user', userId, cmd);
    } catch (err) {
      this.deps.logger.error({ err, userId, eventType }, 'group DM notification failed');
    }
  }

  /** Writes a system message and publishes it once committed. */
  private async system(dm: DmRecord, type: number, authorId: string, content: string, users: string[]): Promise<void> {
    const record: MessageRecord = {
      id: this.deps.ids.next(), type, channelId: dm.id, guildId: null, authorId, content, nonce: null,
      mentions: users.length > 0 ? { users, roles: [], everyone: false } : null, createdAt: this.deps.clock.now(),
      editedAt: null, replyToId: null, pinnedAt: null,
    };
    try {
      await appendMessage(this.place, record, (m) => {
        dm.lastMessageId = m.id;
        this.deps.dms.touch(dm.id, m.id).catch((err) => this.deps.logger.warn({ err, dm: dm.id }, 'dm touch failed'));
      });
    } catch (err) {
      this.deps.logger.warn({ err, dm: dm.id, type }, 'group DM system message not written');
    }
  }
}

const blockedError = () => new CommandError(ErrorCode.BLOCKED, 'a block between you and this user prevents direct messages');
