/** Members, moderation (nicknames, kicks, bans, timeouts), invites and the audit log query. */
import { ErrorCode, MessageType, type Method } from '../../../protocol/opcodes.ts';
import { has, Permission } from '../../../protocol/permissions.ts';
import { LIMITS, type Payload } from '../../../protocol/payloads.ts';
import type { AuditEntry, Ban, Invite, Member } from '../../../protocol/types.ts';
import { compareSnowflakes } from '../../../protocol/ids.ts';
import type { BanRecord, InviteRecord } from '../../../storage/records.ts';
import { CommandError, forbidden, notFound } from '../../command-error.ts';
import type { GuildContext } from '../guild-context.ts';
import { toWireMember } from '../guild-views.ts';
import { newInviteCode } from '../invite-code.ts';
import { postSystemMessage } from './message-handlers.ts';

export async function listMembers(ctx: GuildContext, _userId: string, p: Payload<typeof Method.MEMBER_LIST>): Promise<Member[]> {
  const page = [...ctx.state.members.values()]
    .filter((m) => p.after === null || compareSnowflakes(m.userId, p.after) > 0)
    .sort((a, b) => compareSnowflakes(a.userId, b.userId))
    .slice(0, p.limit);
  const users = await ctx.users(page.map((m) => m.userId));
  return page.filter((m) => users.has(m.userId)).map((m) => toWireMember(m, users.get(m.userId)!));
}

export async function setNickname(ctx: GuildContext, userId: string, p: Payload<typeof Method.MEMBER_NICKNAME>): Promise<Member> {
  const state = ctx.state;
  const member = ctx.requireMember(p.userId);
  if (p.userId === userId) ctx.require(userId, Permission.CHANGE_NICKNAME);
  else {
    ctx.require(userId, Permission.MANAGE_NICKNAMES);
    ctx.requireOutranks(userId, p.userId);
  }
  const user = await ctx.user(p.userId);
  if (member.nickname !== p.nickname) {
    await ctx.deps.guilds.updateMember(ctx.id, p.userId, { nickname: p.nickname });
    state.members.set(p.userId, { ...member, nickname: p.nickname });
    ctx.publish([{ kind: 'member.update', actorId: userId, reason: p.reason, userId: p.userId, user, changes: [{ key: 'nick', old: member.nickname, new: p.nickname }] }]);
  }
  return toWireMember(state.members.get(p.userId)!, user);
}

export async function kickMember(ctx: GuildContext, userId: string, p: Payload<typeof Method.MEMBER_KICK>): Promise<null> {
  const state = ctx.state;
  if (p.userId === userId) throw forbidden('use guild.leave to leave');
  ctx.require(userId, Permission.KICK_MEMBERS);
  ctx.requireMember(p.userId);
  ctx.requireOutranks(userId, p.userId);
  const user = await ctx.user(p.userId);
  await ctx.deps.guilds.removeMember(ctx.id, p.userId);
  const before = ctx.capture([p.userId]);
  state.members.delete(p.userId);
  ctx.publish([{ kind: 'member.kick', actorId: userId, reason: p.reason, userId: p.userId, user }], before);
  postSystemMessage(ctx, MessageType.MEMBER_KICK, p.userId);
  return null;
}

export async function timeoutMember(ctx: GuildContext, userId: string, p: Payload<typeof Method.MEMBER_TIMEOUT>): Promise<Member> {
  const state = ctx.state;
  ctx.require(userId, Permission.MODERATE_MEMBERS);
  const member = ctx.requireMember(p.userId);
  ctx.requireOutranks(userId, p.userId);
  if (has(state.permissions(p.userId), Permission.ADMINISTRATOR)) throw forbidden('administrators cannot be timed out');
  const now = ctx.now();
  if (p.until !== null && (p.until <= now || p.until > now + LIMITS.timeoutMaxMs)) {
    throw new CommandError(ErrorCode.INVALID_PAYLOAD, 'until must be in the future and at most 28 days away', { field: 'until', reason: 'out of range' });
  }
  const user = await ctx.user(p.userId);
  if (member.timeoutUntil === p.until) return toWireMember(member, user);
  await ctx.deps.guilds.updateMember(ctx.id, p.userId, { timeoutUntil: p.until });
  state.members.set(p.userId, { ...member, timeoutUntil: p.until });
  ctx.publish([{ kind: 'member.update', actorId: userId, reason: p.reason, userId: p.userId, user, changes: [{ key: 'timeout_until', old: member.timeoutUntil, new: p.until }] }]);
  return toWireMember(state.members.get(p.userId)!, user);
}

export async function banMember(ctx: GuildContext, userId: string, p: Payload<typeof Method.BAN_CREATE>): Promise<Ban> {
  const state = ctx.state;
  if (p.userId === userId) throw forbidden('you cannot ban yourself');
  ctx.require(userId, Permission.BAN_MEMBERS);
  const wasMember = state.isMember(p.userId);
  if (wasMember) ctx.requireOutranks(userId, p.userId);
  else if (state.isOwner(p.userId)) throw new CommandError(ErrorCode.HIERARCHY, 'the owner cannot be banned');
  const user = await ctx.user(p.userId);
  const ban: BanRecord = { guildId: ctx.id, userId: p.userId, moderatorId: userId, reason: p.reason, createdAt: ctx.now() };
  await ctx.deps.guilds.ban(ban);
  const before = ctx.capture([p.userId]);
  state.members.delete(p.userId);
  ctx.publish([{ kind: 'member.ban', actorId: userId, reason: p.reason, userId: p.userId, user, ban, wasMember }], before);
  if (wasMember) postSystemMessage(ctx, MessageType.MEMBER_BAN, p.userId);
  return { guildId: ctx.id, user, reason: ban.reason, createdAt: ban.createdAt };
}

export async function unbanMember(ctx: GuildContext, userId: string, p: Payload<typeof Method.BAN_REMOVE>): Promise<null> {
  ctx.require(userId, Permission.BAN_MEMBERS);
  const user = await ctx.user(p.userId);
  if (!(await ctx.deps.guilds.unban(ctx.id, p.userId))) throw notFound(ErrorCode.UNKNOWN_BAN, 'ban');
  ctx.publish([{ kind: 'member.unban', actorId: userId, reason: p.reason, userId: p.userId, user }]);
  return null;
}

export async function listBans(ctx: GuildContext, userId: string): Promise<Ban[]> {
  ctx.require(userId, Permission.BAN_MEMBERS);
  const bans = await ctx.deps.guilds.listBans(ctx.id);
  const users = await ctx.users(bans.map((b) => b.userId));
  return bans.filter((b) => users.has(b.userId)).map((b) => ({ guildId: b.guildId, user: users.get(b.userId)!, reason: b.reason, createdAt: b.createdAt }));
}

export async function createInvite(ctx: GuildContext, userId: string, p: Payload<typeof Method.INVITE_CREATE>): Promise<Invite> {
  if (p.channelId !== null) {
    const channel = ctx.viewableChannel(userId, p.channelId);
    if (!ctx.state.textChannel(channel.id)) throw notFound(ErrorCode.UNKNOWN_CHANNEL, 'text channel');
    ctx.require(userId, Permission.CREATE_INSTANT_INVITE, p.channelId);
  } else ctx.require(userId, Permission.CREATE_INSTANT_INVITE);
  const now = ctx.now();
  const invite: InviteRecord = {
    code: newInviteCode(), guildId: ctx.id, channelId: p.channelId, inviterId: userId, maxUses: p.maxUses,
    uses: 0, expiresAt: p.maxAgeSec === null ? null : now + p.maxAgeSec * 1000, createdAt: now,
  };
  await ctx.deps.guilds.createInvite(invite);
  ctx.publish([{ kind: 'invite.create', actorId: userId, reason: null, invite }]);
  return { ...invite };
}

export async function listInvites(ctx: GuildContext, userId: string): Promise<Invite[]> {
  ctx.require(userId, Permission.MANAGE_GUILD);
  return (await ctx.deps.guilds.listInvites(ctx.id)).map((i) => ({ ...i }));
}

export async function revokeInvite(ctx: GuildContext, userId: string, p: Payload<typeof Method.INVITE_REVOKE>): Promise<null> {
  const invite = await ctx.deps.guilds.findInvite(p.code);
  if (!invite || invite.guildId !== ctx.id) throw notFound(ErrorCode.UNKNOWN_INVITE, 'invite');
  if (invite.inviterId !== userId) ctx.require(userId, Permission.MANAGE_GUILD);
  await ctx.deps.guilds.deleteInvite(p.code);
  ctx.publish([{ kind: 'invite.delete', actorId: userId, reason: p.reason, invite }]);
  return null;
}

export async function listAudit(ctx: GuildContext, userId: string, p: Payload<typeof Method.AUDIT_LIST>): Promise<AuditEntry[]> {
  ctx.require(userId, Permission.VIEW_AUDIT_LOG);
  const rows = await ctx.deps.audit.query(ctx.id, { userId: p.userId, action: p.action, before: p.before, after: p.after, limit: p.limit });
  return rows.map((r) => ({ ...r }));
}
