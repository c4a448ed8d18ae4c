/** Guild lifecycle: create, update, ownership transfer, delete, join by invite, leave. */
import { ChannelType, ErrorCode, EventType, MessageType, type Method } from '../../../protocol/opcodes.ts';
import { DEFAULT_EVERYONE_PERMISSIONS, formatBitfield, Permission } from '../../../protocol/permissions.ts';
import type { Payload } from '../../../protocol/payloads.ts';
import type { Guild } from '../../../protocol/types.ts';
import { ConflictError, type ChannelRecord, type GuildRecord, type MemberRecord, type RoleRecord } from '../../../storage/records.ts';
import { topics } from '../../cluster/topics.ts';
import { CommandError, forbidden, notFound } from '../../command-error.ts';
import type { GuildContext } from '../guild-context.ts';
import { diff } from '../guild-events.ts';
import { GuildState } from '../guild-state.ts';
import { announceJoin } from '../join-presence.ts';
import { guildView } from '../guild-views.ts';
import { postSystemMessage } from './message-handlers.ts';

export async function createGuild(ctx: GuildContext, ownerId: string, p: Payload<typeof Method.GUILD_CREATE>): Promise<Guild> {
  if (ctx.current) throw new CommandError(ErrorCode.INTERNAL, 'guild id already in use');
  const now = ctx.now();
  const general: ChannelRecord = {
    id: ctx.deps.ids.next(), guildId: ctx.id, type: ChannelType.TEXT, name: 'general', topic: null, parentId: null, position: 0, createdAt: now,
  };
  const guild: GuildRecord = { id: ctx.id, name: p.name, ownerId, description: null, iconUrl: null, systemChannelId: general.id, createdAt: now };
  const everyone: RoleRecord = {
    id: ctx.id, guildId: ctx.id, name: '@everyone', color: 0, permissions: formatBitfield(DEFAULT_EVERYONE_PERMISSIONS),
    position: 0, mentionable: false, hoist: false, createdAt: now,
  };
  const owner: MemberRecord = { guildId: ctx.id, userId: ownerId, joinedAt: now, nickname: null, timeoutUntil: null, roleIds: [] };
  const me = await ctx.user(ownerId);
  await ctx.deps.guilds.create(guild, everyone, [general], owner);
  const state = GuildState.fromSnapshot({ guild, channels: [general], members: [owner], roles: [everyone], overwrites: [] }, () => ctx.now());
  ctx.current = state;
  const view = guildView(state, ownerId, me);
  ctx.deps.bus.retopic(ownerId, { subscribe: state.topicsFor(ownerId) });
  ctx.emit(topics.user(ownerId), EventType.GUILD_CREATE, view);
  return view;
}

export async function joinGuild(ctx: GuildContext, userId: string, p: Payload<typeof Method.INVITE_JOIN>): Promise<Guild> {
  const state = ctx.state;
  const invite = await ctx.deps.guilds.findInvite(p.code);
  if (!invite || invite.guildId !== ctx.id) throw notFound(ErrorCode.UNKNOWN_INVITE, 'invite');
  if (state.isMember(userId)) throw new CommandError(ErrorCode.ALREADY_MEMBER, 'already a member of this guild');
  if (await ctx.deps.guilds.findBan(ctx.id, userId)) throw new CommandError(ErrorCode.BANNED, 'you are banned from this guild');
  const now = ctx.now();
  if ((invite.expiresAt !== null && invite.expiresAt <= now) || (invite.maxUses !== null && invite.uses >= invite.maxUses)) {
    throw new CommandError(ErrorCode.INVITE_EXPIRED, 'invite expired or used up');
  }
  const user = await ctx.user(userId);
  const member: MemberRecord = { guildId: ctx.id, userId, joinedAt: now, nickname: null, timeoutUntil: null, roleIds: [] };
  try {
    await ctx.deps.guilds.addMember(member, p.code);
  } catch (err) {
    if (err instanceof ConflictError && err.field === 'invite') throw new CommandError(ErrorCode.INVITE_EXPIRED, 'invite expired or used up');
    if (err instanceof ConflictError && err.field === 'member') throw new CommandError(ErrorCode.ALREADY_MEMBER, 'already a member of this guild');
    throw err;
  }
  state.members.set(userId, member);
  ctx.publish([{ kind: 'member.join', actorId: userId, reason: null, userId, user, member }]);
  const view = guildView(state, userId, user);
  ctx.deps.bus.retopic(userId, { subscribe: state.topicsFor(userId) });
  ctx.emit(topics.user(userId), EventType.GUILD_CREATE, view);
  const jp = ctx.deps.joinPresence;
  if (jp) {
    announceJoin({ ...jp, bus: ctx.deps.bus }, ctx.id, userId, state.members.keys()).catch((err) =>
      ctx.deps.logger.warn({ err, guildId: ctx.id, userId }, 'presence not announced for a new member'));
  }
  postSystemMessage(ctx, MessageType.MEMBER_JOIN, userId);
  return view;
}

export async function updateGuild(ctx: GuildContext, userId: string, p: Payload<typeof Method.GUILD_UPDATE>) {
  const state = ctx.state;
  ctx.require(userId, Permission.MANAGE_GUILD);
  if (p.systemChannelId && !state.textChannel(p.systemChannelId)) throw notFound(ErrorCode.UNKNOWN_CHANNEL, 'channel');
  const patch = { name: p.name, description: p.description, iconUrl: p.iconUrl, systemChannelId: p.systemChannelId };
  const changes = diff(state.guild, patch, ['name', 'description', 'iconUrl', 'systemChannelId']);
  if (changes.length > 0) {
    const applied = Object.fromEntries(changes.map((c) => [c.key, c.new]));
    await ctx.deps.guilds.updateGuild(ctx.id, applied);
    state.guild = { ...state.guild, ...applied };
    ctx.publish([{ kind: 'guild.update', actorId: userId, reason: p.reason, changes }]);
  }
  return guildView(state, userId, await ctx.user(userId));
}

export async function transferGuild(ctx: GuildContext, userId: string, p: Payload<typeof Method.GUILD_TRANSFER>) {
  const state = ctx.state;
  if (!state.isOwner(userId)) throw forbidden('only the owner can transfer the guild');
  ctx.requireMember(p.userId);
  const changes = diff(state.guild, { ownerId: p.userId }, ['ownerId']);
  if (changes.length > 0) {
    const before = ctx.capture([userId, p.userId]);
    await ctx.deps.guilds.updateGuild(ctx.id, { ownerId: p.userId });
    state.guild = { ...state.guild, ownerId: p.userId };
    ctx.publish([{ kind: 'guild.update', actorId: userId, reason: null, changes }], before);
  }
  return guildView(state, userId, await ctx.user(userId));
}

export async function deleteGuild(ctx: GuildContext, userId: string): Promise<null> {
  const state = ctx.state;
  if (!state.isOwner(userId)) throw forbidden('only the owner can delete the guild');
  const subscriptions = [...state.members.keys()].map((id) => [id, state.topicsFor(id)] as const);
  // Pending audit entries of this guild must land before its rows go, or their batch would fail.
  await ctx.deps.audit.flush();
  await ctx.deps.guilds.deleteGuild(ctx.id);
  ctx.publish([{ kind: 'guild.delete', actorId: userId, reason: null }]);
  for (const [memberId, memberTopics] of subscriptions) ctx.deps.bus.retopic(memberId, { unsubscribe: memberTopics });
  ctx.current = null;
  return null;
}

export async function leaveGuild(ctx: GuildContext, userId: string): Promise<null> {
  const state = ctx.state;
  if (state.isOwner(userId)) throw forbidden('the owner cannot leave; transfer ownership or delete the guild');
  const user = await ctx.user(userId);
  const before = ctx.capture([userId]);
  await ctx.deps.guilds.removeMember(ctx.id, userId);
  state.members.delete(userId);
  ctx.publish([{ kind: 'member.leave', actorId: userId, reason: null, userId, user }], before);
  postSystemMessage(ctx, MessageType.MEMBER_LEAVE, userId);
  return null;
}
