/**
 * DmActor: sole owner of one direct conversation (its participants, stream and messages). Every
 * participant may do everything in it; messages follow the same pipelined path as guild channels:
 * ordered decision, reply after COMMIT. Handlers are in dm-handlers.ts.
 */
import type { Logger } from 'pino';
import { ErrorCode, Method } from '../../protocol/opcodes.ts';
import type { Clock, SnowflakeGenerator } from '../../protocol/ids.ts';
import type { StreamPosition } from '../../protocol/types.ts';
import type { DmStore, MessageStore, ReadStateStore, UserStore } from '../../storage/ports.ts';
import type { MessageWriter } from '../../storage/messages/message-writer.ts';
import type { DmRecord } from '../../storage/records.ts';
import type { Behaviour } from '../actors/actor-system.ts';
import { publishEphemeral } from '../actors/ephemeral-event.ts';
import { EventStream } from '../actors/event-stream.ts';
import type { Bus } from '../cluster/bus.ts';
import { streams, topics } from '../cluster/topics.ts';
import { CommandError, notFound } from '../command-error.ts';
import { MessageLog } from '../messages/message-log.ts';
import type { MessagePlace } from '../messages/message-ops.ts';
import type { DmCommand, DmMethod } from './dm-commands.ts';
import * as handlers from './dm-handlers.ts';
import { DM_MEMBERSHIP_METHODS, DmMembership, type DmMembershipCommand, type DmMembershipDeps } from './dm-membership.ts';

export interface DmActorDeps extends DmMembershipDeps {
  dms: DmStore;
  users: UserStore;
  messages: MessageStore;
  readStates: ReadStateStore;
  writer: MessageWriter;
  bus: Bus;
  ids: SnowflakeGenerator;
  clock: Clock;
  historyCacheSize: number;
  logger: Logger;
}

/** The DM as the actor holds it and its stream position, taken together (nothing can happen in between). */
export interface DmSnapshotReply {
  dm: DmRecord;
  position: StreamPosition;
}

/** What DM handlers work with. */
export interface DmContext {
  readonly dm: DmRecord;
  readonly deps: DmActorDeps;
  readonly stream: EventStream;
  readonly place: MessagePlace;
  readonly lastTyping: Map<string, number>;
}

type Handler = (ctx: DmContext, userId: string, payload: any) => unknown;

const HANDLERS: Record<DmMethod, Handler> = {
  [Method.DM_SEND]: handlers.send,
  [Method.DM_HISTORY]: handlers.history,
  [Method.MESSAGE_EDIT]: handlers.edit,
  [Method.MESSAGE_DELETE]: handlers.remove,
  [Method.MESSAGE_PIN]: (ctx, userId, p) => handlers.pin(ctx, userId, p, true),
  [Method.MESSAGE_UNPIN]: (ctx, userId, p) => handlers.pin(ctx, userId, p, false),
  [Method.MESSAGE_PINS]: handlers.pins,
  [Method.REACTION_ADD]: (ctx, userId, p) => handlers.react(ctx, userId, p, true),
  [Method.REACTION_REMOVE]: (ctx, userId, p) => handlers.react(ctx, userId, p, false),
  [Method.TYPING_START]: handlers.typing,
  [Method.MESSAGE_ACK]: handlers.ack,
};

export async function createDmActor(id: string, deps: DmActorDeps): Promise<Behaviour<DmCommand>> {
  const dm = await deps.dms.load(id);
  return new DmActor(id, deps, dm);
}

class DmActor implements Behaviour<DmCommand> {
  private readonly ctx: DmContext | null;
  private readonly stream: EventStream;
  private readonly membership: DmMembership | null = null;

  constructor(id: string, deps: DmActorDeps, dm: DmRecord | null) {
    this.stream = new EventStream(streams.dm(id), deps.bus, deps.clock);
    if (!dm) {
      this.ctx = null;
      return;
    }
    const stream = this.stream;
    const log = new MessageLog(id, { store: deps.messages, writer: deps.writer, cacheSize: deps.historyCacheSize }, dm.lastMessageId);
    const place: MessagePlace = {
      log,
      guildId: null,
      topic: topics.dm(id),
      emit: (topic, type, data) => stream.emit(topic, type, data),
      ephemeral: (topic, type, data) => publishEphemeral(deps.bus, stream, topic, type, data),
      now: () => deps.clock.now(),
    };
    this.ctx = { dm, deps, stream, place, lastTyping: new Map() };
    this.membership = new DmMembership(deps, stream, place);
  }

  isVacant(): boolean {
    return this.ctx === null;
  }

  handle(cmd: DmCommand): unknown {
    const ctx = this.ctx;
    if (!ctx) throw notFound(ErrorCode.UNKNOWN_DM, 'DM');
    if (!ctx.dm.participantIds.includes(cmd.userId)) throw new CommandError(ErrorCode.NOT_MEMBER, 'not a participant of this DM');
    if (cmd.method === 'snapshot') return { dm: { ...ctx.dm, participantIds: [...ctx.dm.participantIds] }, position: this.stream.position } satisfies DmSnapshotReply;
    if (DM_MEMBERSHIP_METHODS.has(cmd.method)) return this.membership!.handle(ctx.dm, cmd as DmMembershipCommand);
    const c = cmd as Exclude<DmCommand, DmMembershipCommand | { method: 'snapshot' }>;
    if (c.method === Method.DM_SEND) return this.membership!.guardSend(ctx.dm, () => HANDLERS[c.method](ctx, c.userId, c.payload));
    return HANDLERS[c.method](ctx, c.userId, c.payload);
  }
}
