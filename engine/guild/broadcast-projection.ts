/**
 * Gateway subscriber: turns a guild's domain events into wire events on the right topics. Guild-wide
 * facts go to the guild topic (every member), channel facts to the channel's topic (only members who
 * can view it). Who gains or loses sight of what is handled by the actor's visibility sync.
 */
import { EventType } from '../../protocol/opcodes.ts';
import { has, Permission } from '../../protocol/permissions.ts';
import { topics } from '../cluster/topics.ts';
import type { GuildDomainEvent } from './guild-events.ts';
import type { GuildState } from './guild-state.ts';
import { channelView, guildHeader, toWireMember, toWireRole } from './guild-views.ts';

export type Emit = (topic: string, type: string, data: unknown) => void;

/** Ban events reach only members who may see bans (BAN_MEMBERS), on their user topics. */
function toModerators(state: GuildState, emit: Emit, type: string, data: unknown): void {
  for (const userId of state.members.keys()) {
    if (has(state.permissions(userId), Permission.BAN_MEMBERS)) emit(topics.user(userId), type, data);
  }
}

export function broadcast(e: GuildDomainEvent, state: GuildState, emit: Emit): void {
  const guildId = state.guild.id;
  const guildTopic = topics.guild(guildId);
  switch (e.kind) {
    case 'guild.update':
      return emit(guildTopic, EventType.GUILD_UPDATE, guildHeader(state));
    case 'guild.delete':
      return emit(guildTopic, EventType.GUILD_DELETE, { id: guildId });
    case 'channel.create':
      return emit(topics.channel(e.channel.id), EventType.CHANNEL_CREATE, channelView(state, e.channel.id));
    case 'channel.update':
    case 'overwrite.set':
    case 'overwrite.delete':
      return emit(topics.channel(e.channelId), EventType.CHANNEL_UPDATE, channelView(state, e.channelId));
    case 'channel.delete':
      return emit(topics.channel(e.channel.id), EventType.CHANNEL_DELETE, { id: e.channel.id, guildId });
    case 'role.create':
      return emit(guildTopic, EventType.GUILD_ROLE_CREATE, toWireRole(e.role));
    case 'role.update':
      return emit(guildTopic, EventType.GUILD_ROLE_UPDATE, toWireRole(state.roles.get(e.roleId)!));
    case 'role.delete':
      return emit(guildTopic, EventType.GUILD_ROLE_DELETE, { id: e.role.id, guildId });
    case 'member.join':
      return emit(guildTopic, EventType.GUILD_MEMBER_ADD, toWireMember(e.member, e.user));
    case 'member.roles':
    case 'member.update':
      return emit(guildTopic, EventType.GUILD_MEMBER_UPDATE, toWireMember(state.members.get(e.userId)!, e.user));
    case 'member.leave':
    case 'member.kick':
      return emit(guildTopic, EventType.GUILD_MEMBER_REMOVE, { guildId, user: e.user });
    case 'member.ban':
      if (e.wasMember) emit(guildTopic, EventType.GUILD_MEMBER_REMOVE, { guildId, user: e.user });
      return toModerators(state, emit, EventType.GUILD_BAN_ADD, { guildId, user: e.user });
    case 'member.unban':
      return toModerators(state, emit, EventType.GUILD_BAN_REMOVE, { guildId, user: e.user });
    case 'message.delete':
    case 'message.pin':
    case 'message.unpin':
      return; // published by the shared message operations
    case 'invite.create':
    case 'invite.delete':
      return; // invites are answered to the caller; listing them needs MANAGE_GUILD
  }
}
