/**
 * GuildActor: sole owner of one guild. Each command runs check → mutate → persist → broadcast in
 * its handler, one command at a time; the resulting domain events feed the broadcast and audit
 * subscribers. Handlers live in ./handlers, one module per area.
 */
import { Method } from '../../protocol/opcodes.ts';
import type { Guild, StreamPosition } from '../../protocol/types.ts';
import type { Behaviour } from '../actors/actor-system.ts';
import { EventStream } from '../actors/event-stream.ts';
import { streams } from '../cluster/topics.ts';
import { CommandError } from '../command-error.ts';
import { ErrorCode } from '../../protocol/opcodes.ts';
import { MessageLog } from '../messages/message-log.ts';
import type { GuildCommand, GuildMethod } from './guild-commands.ts';
import { GuildContext, type GuildActorDeps } from './guild-context.ts';
import { GuildState } from './guild-state.ts';
import { guildView } from './guild-views.ts';
import * as channels from './handlers/channel-handlers.ts';
import * as guilds from './handlers/guild-handlers.ts';
import * as members from './handlers/member-handlers.ts';
import * as messages from './handlers/message-handlers.ts';
import * as roles from './handlers/role-handlers.ts';

export type { GuildActorDeps } from './guild-context.ts';

export interface GuildSnapshotReply {
  guild: Guild;
  position: StreamPosition;
  topics: string[];
}

type Handler = (ctx: GuildContext, userId: string, payload: any) => unknown;

const HANDLERS: Record<GuildMethod, Handler> = {
  [Method.GUILD_UPDATE]: guilds.updateGuild,
  [Method.GUILD_TRANSFER]: guilds.transferGuild,
  [Method.GUILD_DELETE]: guilds.deleteGuild,
  [Method.GUILD_LEAVE]: guilds.leaveGuild,
  [Method.INVITE_JOIN]: guilds.joinGuild,
  [Method.CHANNEL_CREATE]: channels.createChannel,
  [Method.CHANNEL_UPDATE]: channels.updateChannel,
  [Method.CHANNEL_REORDER]: channels.reorderChannels,
  [Method.CHANNEL_DELETE]: channels.deleteChannel,
  [Method.OVERWRITE_SET]: channels.setOverwrite,
  [Method.OVERWRITE_DELETE]: channels.deleteOverwrite,
  [Method.ROLE_CREATE]: roles.createRole,
  [Method.ROLE_UPDATE]: roles.updateRole,
  [Method.ROLE_REORDER]: roles.reorderRoles,
  [Method.ROLE_DELETE]: roles.deleteRole,
  [Method.MEMBER_ROLE_ADD]: (ctx, userId, p) => roles.changeMemberRole(ctx, userId, p, true),
  [Method.MEMBER_ROLE_REMOVE]: (ctx, userId, p) => roles.changeMemberRole(ctx, userId, p, false),
  [Method.MEMBER_LIST]: members.listMembers,
  [Method.MEMBER_NICKNAME]: members.setNickname,
  [Method.MEMBER_KICK]: members.kickMember,
  [Method.MEMBER_TIMEOUT]: members.timeoutMember,
  [Method.BAN_CREATE]: members.banMember,
  [Method.BAN_REMOVE]: members.unbanMember,
  [Method.BAN_LIST]: members.listBans,
  [Method.INVITE_CREATE]: members.createInvite,
  [Method.INVITE_LIST]: members.listInvites,
  [Method.INVITE_REVOKE]: members.revokeInvite,
  [Method.AUDIT_LIST]: members.listAudit,
  [Method.MESSAGE_SEND]: messages.sendMessage,
  [Method.MESSAGE_HISTORY]: messages.messageHistory,
  [Method.MESSAGE_EDIT]: messages.editMessage,
  [Method.MESSAGE_DELETE]: messages.deleteMessage,
  [Method.MESSAGE_PIN]: (ctx, userId, p) => messages.pinMessage(ctx, userId, p, true),
  [Method.MESSAGE_UNPIN]: (ctx, userId, p) => messages.pinMessage(ctx, userId, p, false),
  [Method.MESSAGE_PINS]: messages.pinnedMessages,
  [Method.REACTION_ADD]: (ctx, userId, p) => messages.react(ctx, userId, p, true),
  [Method.REACTION_REMOVE]: (ctx, userId, p) => messages.react(ctx, userId, p, false),
  [Method.TYPING_START]: messages.startTyping,
  [Method.MESSAGE_ACK]: messages.ack,
};

/** Methods any member may call without joining (only invite.join is open to non-members). */
const OPEN_TO_NON_MEMBERS: ReadonlySet<string> = new Set([Method.INVITE_JOIN]);

export async function createGuildActor(id: string, deps: GuildActorDeps): Promise<Behaviour<GuildCommand>> {
  const snapshot = await deps.guilds.load(id);
  if (!snapshot) return new GuildActor(id, deps, null);
  const state = GuildState.fromSnapshot(snapshot, () => deps.clock.now());
  const lastIds = await deps.messages.lastMessageIds(snapshot.channels.map((c) => c.id));
  for (const [channelId, messageId] of lastIds) state.lastMessageIds.set(channelId, messageId);
  return new GuildActor(id, deps, state);
}

class GuildActor implements Behaviour<GuildCommand> {
  private readonly ctx: GuildContext;
  private readonly logs = new Map<string, MessageLog>();

  constructor(id: string, private readonly deps: GuildActorDeps, state: GuildState | null) {
    const stream = new EventStream(streams.guild(id), deps.bus, deps.clock);
    this.ctx = new GuildContext(id, deps, stream, state, (channelId) => this.log(channelId));
  }

  isVacant(): boolean {
    return this.ctx.current === null;
  }

  handle(cmd: GuildCommand): unknown {
    if (cmd.method === 'create') return guilds.createGuild(this.ctx, cmd.userId, cmd.payload);
    const state = this.ctx.state;
    if (!state.isMember(cmd.userId) && !OPEN_TO_NON_MEMBERS.has(cmd.method)) {
      throw new CommandError(ErrorCode.NOT_MEMBER, 'not a member of this guild');
    }
    if (cmd.method === 'snapshot') return this.snapshot(cmd.userId, cmd.nickname);
    return HANDLERS[cmd.method](this.ctx, cmd.userId, cmd.payload);
  }

  /** Synchronous on hot state: no storage read inside the mailbox (every IDENTIFY of every member asks this). */
  private snapshot(userId: string, nickname: string): GuildSnapshotReply {
    const state = this.ctx.state;
    return { guild: guildView(state, userId, { id: userId, nickname }), position: this.ctx.stream.position, topics: state.topicsFor(userId) };
  }

  private log(channelId: string): MessageLog {
    let log = this.logs.get(channelId);
    if (!log) {
      const lastId = this.ctx.current?.lastMessageIds.get(channelId) ?? null;
      log = new MessageLog(channelId, { store: this.deps.messages, writer: this.deps.writer, cacheSize: this.deps.historyCacheSize }, lastId);
      this.logs.set(channelId, log);
    }
    return log;
  }
}
