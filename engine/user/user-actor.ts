/**
 * UserActor: owns one user's event stream (events only that user's sessions receive) and the
 * relationships the user starts, such as opening a DM. It never awaits another user's actor, so
 * two users acting on each other cannot deadlock. Profiles, friends, blocks, presence and the
 * conversation list are in user-people.ts.
 */
import type { Logger } from 'pino';
import { ErrorCode, EventType } from '../../protocol/opcodes.ts';
import type { Clock, SnowflakeGenerator } from '../../protocol/ids.ts';
import type { Dm, Mute, StreamPosition } from '../../protocol/types.ts';
import type { DmStore, MuteStore, ReadStateStore, UserStore } from '../../storage/ports.ts';
import type { MuteRecord } from '../../storage/records.ts';
import { summaries } from '../people/people-views.ts';
import { isBlocked } from '../people/relationship-rules.ts';
import type { Behaviour } from '../actors/actor-system.ts';
import { EventStream } from '../actors/event-stream.ts';
import type { Bus, TopicChange } from '../cluster/bus.ts';
import type { Router } from '../cluster/router.ts';
import { streams, topics } from '../cluster/topics.ts';
import { CommandError, notFound } from '../command-error.ts';
import { toWireDm } from '../dm/dm-view.ts';
import type { UserCommand } from './user-commands.ts';
import { UserPeople, type UserPeopleDeps } from './user-people.ts';

export interface UserActorDeps extends UserPeopleDeps {
  users: UserStore;
  dms: DmStore;
  readStates: ReadStateStore;
  mutes: MuteStore;
  bus: Bus;
  router: Router;
  ids: SnowflakeGenerator;
  clock: Clock;
  logger: Logger;
}

/** MuteRecord.targetType ↔ wire type. */
export const MUTE_TYPES: readonly Mute['type'][] = ['channel', 'guild', 'dm'];

export async function createUserActor(id: string, deps: UserActorDeps): Promise<Behaviour<UserCommand>> {
  const user = await deps.users.findById(id);
  return new UserActor(id, deps, user !== null);
}

class UserActor implements Behaviour<UserCommand> {
  private readonly stream: EventStream;
  private readonly people: UserPeople;

  constructor(private readonly id: string, private readonly deps: UserActorDeps, private readonly exists: boolean) {
    this.stream = new EventStream(streams.user(id), deps.bus, deps.clock);
    this.people = new UserPeople(id, deps, this.stream);
  }

  isVacant(): boolean {
    return !this.exists;
  }

  onEvict(): void {
    this.people.onEvict();
  }

  handle(cmd: UserCommand): unknown {
    if (!this.exists) throw notFound(ErrorCode.UNKNOWN_USER, 'user');
    switch (cmd.type) {
      case 'notify':
        return this.notify(cmd.eventType, cmd.data, cmd.change);
      case 'openDm':
        return this.openDm(cmd.targetId);
      case 'mute':
        return this.mute(cmd.targetId, cmd.targetType, cmd.until);
      case 'unmute':
        return this.unmute(cmd.targetId);
      case 'position':
        return this.stream.position satisfies StreamPosition;
      default:
        return this.people.handle(cmd);
    }
  }

  private notify(eventType: string, data: unknown, change?: TopicChange): StreamPosition {
    if (change) this.deps.bus.retopic(this.id, change);
    this.stream.emit(topics.user(this.id), eventType, data);
    return this.stream.position;
  }

  private async mute(targetId: string, type: Mute['type'], until: number | null): Promise<Mute> {
    if (until !== null && until <= this.deps.clock.now()) {
      throw new CommandError(ErrorCode.INVALID_PAYLOAD, 'until must be in the future', { field: 'until', reason: 'must be in the future' });
    }
    await this.deps.mutes.set({ userId: this.id, targetId, targetType: MUTE_TYPES.indexOf(type) as MuteRecord['targetType'], until });
    const mute: Mute = { targetId, type, until };
    this.stream.emit(topics.user(this.id), EventType.MUTE_UPDATE, { ...mute, muted: true });
    return mute;
  }

  private async unmute(targetId: string): Promise<null> {
    const mutes = await this.deps.mutes.list(this.id);
    const existing = mutes.find((m) => m.targetId === targetId);
    if (!existing || !(await this.deps.mutes.delete(this.id, targetId))) throw notFound(ErrorCode.UNKNOWN_CHANNEL, 'mute');
    this.stream.emit(topics.user(this.id), EventType.MUTE_UPDATE, { targetId, type: MUTE_TYPES[existing.targetType], until: null, muted: false });
    return null;
  }

  private async openDm(targetId: string): Promise<Dm> {
    if (targetId === this.id) throw new CommandError(ErrorCode.INVALID_PAYLOAD, 'cannot open a DM with yourself', { field: 'userId', reason: 'is yourself' });
    const [profiles, pair] = await Promise.all([this.deps.profiles.getMany([this.id, targetId]), this.deps.relationships.pair(this.id, targetId)]);
    if (profiles.length !== 2) throw notFound(ErrorCode.UNKNOWN_USER, 'user');
    if (isBlocked(pair)) throw new CommandError(ErrorCode.BLOCKED, 'a block between you and this user prevents direct messages');
    const { dm, created } = await this.deps.dms.findOrCreatePair(this.id, targetId, this.deps.ids.next(), this.deps.clock.now());
    const wire = toWireDm(dm, summaries(profiles));
    if (created) {
      const change = { subscribe: [topics.dm(dm.id)] };
      this.notify(EventType.DM_CREATE, wire, change);
      const notifyTarget: UserCommand = { type: 'notify', eventType: EventType.DM_CREATE, data: wire, change };
      this.deps.router.ask('user', targetId, notifyTarget).catch((err) => this.deps.logger.error({ err, targetId }, 'DM_CREATE to target failed'));
    }
    return wire;
  }
}
