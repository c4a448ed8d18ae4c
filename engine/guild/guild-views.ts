/** Wire forms of guild state, as clients see them. */
import type { Channel, Guild, Member, Role, User } from '../../protocol/types.ts';
import type { ChannelRecord, MemberRecord, OverwriteRecord, RoleRecord } from '../../storage/records.ts';
import type { GuildState } from './guild-state.ts';

export function toWireChannel(c: ChannelRecord, overwrites: readonly OverwriteRecord[], lastMessageId: string | null = null): Channel {
  return {
    id: c.id,
    guildId: c.guildId,
    type: c.type as Channel['type'],
    name: c.name,
    topic: c.topic,
    parentId: c.parentId,
    position: c.position,
    overwrites: overwrites.map((o) => ({ id: o.targetId, type: o.targetType === 0 ? 'role' : 'member', allow: o.allow, deny: o.deny })),
    lastMessageId,
  };
}

export function toWireRole(r: RoleRecord): Role {
  return {
    id: r.id, guildId: r.guildId, name: r.name, color: r.color, permissions: r.permissions,
    position: r.position, mentionable: r.mentionable, hoist: r.hoist,
  };
}

export function toWireMember(m: MemberRecord, user: User): Member {
  return { guildId: m.guildId, user, joinedAt: m.joinedAt, nickname: m.nickname, roles: [...m.roleIds], timeoutUntil: m.timeoutUntil };
}

export function channelView(state: GuildState, channelId: string): Channel {
  return toWireChannel(state.channels.get(channelId)!, state.channelOverwrites(channelId), state.lastMessageIds.get(channelId) ?? null);
}

export function guildHeader(state: GuildState) {
  const g = state.guild;
  return {
    id: g.id, name: g.name, description: g.description, iconUrl: g.iconUrl, ownerId: g.ownerId,
    systemChannelId: g.systemChannelId, createdAt: g.createdAt, memberCount: state.members.size,
  };
}

/** The guild as `userId` sees it: only channels it can view. */
export function guildView(state: GuildState, userId: string, me: User): Guild {
  const member = state.members.get(userId)!;
  return {
    ...guildHeader(state),
    channels: state.visibleChannels(userId).map((c) => channelView(state, c.id)),
    roles: [...state.roles.values()].sort((a, b) => a.position - b.position || (a.id < b.id ? -1 : 1)).map(toWireRole),
    me: toWireMember(member, me),
  };
}
