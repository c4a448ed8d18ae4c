/** Channels, categories and their permission overwrites. */
import { ChannelType, ErrorCode, type Method } from '../../../protocol/opcodes.ts';
import { ALL_PERMISSIONS, has, parseBitfield, Permission } from '../../../protocol/permissions.ts';
import type { Payload } from '../../../protocol/payloads.ts';
import type { Channel } from '../../../protocol/types.ts';
import type { ChannelRecord, OverwriteRecord } from '../../../storage/records.ts';
import { CommandError, notFound } from '../../command-error.ts';
import type { GuildContext } from '../guild-context.ts';
import { diff, type GuildDomainEvent } from '../guild-events.ts';
import { channelView } from '../guild-views.ts';

const invalid = (field: string, reason: string) => new CommandError(ErrorCode.INVALID_PAYLOAD, `${field} ${reason}`, { field, reason });

/** A bitfield from a payload: a bad one is the caller's INVALID_PAYLOAD, never an INTERNAL error. */
function payloadBits(field: string, value: string): bigint {
  try {
    return parseBitfield(value);
  } catch {
    throw invalid(field, 'must be a decimal string bitfield of defined permissions');
  }
}

/** A text channel's parent must be a category of this guild; categories have no parent. */
function checkParent(ctx: GuildContext, type: number, parentId: string | null): void {
  if (parentId === null) return;
  if (type === ChannelType.CATEGORY) throw invalid('parentId', 'categories cannot be nested');
  const parent = ctx.state.channels.get(parentId);
  if (!parent || parent.type !== ChannelType.CATEGORY) throw notFound(ErrorCode.UNKNOWN_CHANNEL, 'category');
}

export async function createChannel(ctx: GuildContext, userId: string, p: Payload<typeof Method.CHANNEL_CREATE>): Promise<Channel> {
  const state = ctx.state;
  ctx.require(userId, Permission.MANAGE_CHANNELS);
  checkParent(ctx, p.type, p.parentId);
  const channel: ChannelRecord = {
    id: ctx.deps.ids.next(), guildId: ctx.id, type: p.type, name: p.name, topic: p.type === ChannelType.TEXT ? p.topic : null,
    parentId: p.parentId, position: state.nextChannelPosition(), createdAt: ctx.now(),
  };
  await ctx.deps.guilds.createChannel(channel);
  const before = ctx.capture('all');
  state.channels.set(channel.id, channel);
  // Subscribe the viewers first, then announce once on the new channel's topic.
  ctx.sync(before, new Set([channel.id]));
  ctx.publish([{ kind: 'channel.create', actorId: userId, reason: p.reason, channel }]);
  return channelView(state, channel.id);
}

export async function updateChannel(ctx: GuildContext, userId: string, p: Payload<typeof Method.CHANNEL_UPDATE>): Promise<Channel> {
  const state = ctx.state;
  const channel = ctx.viewableChannel(userId, p.channelId);
  ctx.require(userId, Permission.MANAGE_CHANNELS, channel.id);
  if (p.parentId !== undefined) checkParent(ctx, channel.type, p.parentId);
  const patch = { name: p.name, topic: channel.type === ChannelType.TEXT ? p.topic : undefined, parentId: p.parentId };
  const changes = diff(channel, patch, ['name', 'topic', 'parentId']);
  if (changes.length > 0) {
    const applied = Object.fromEntries(changes.map((c) => [c.key, c.new]));
    await ctx.deps.guilds.updateChannel(channel.id, applied);
    state.channels.set(channel.id, { ...channel, ...applied });
    ctx.publish([{ kind: 'channel.update', actorId: userId, reason: p.reason, channelId: channel.id, changes }]);
  }
  return channelView(state, channel.id);
}

export async function reorderChannels(ctx: GuildContext, userId: string, p: Payload<typeof Method.CHANNEL_REORDER>): Promise<Channel[]> {
  const state = ctx.state;
  ctx.require(userId, Permission.MANAGE_CHANNELS);
  const items = p.positions.map((item) => {
    const channel = ctx.viewableChannel(userId, item.id);
    ctx.require(userId, Permission.MANAGE_CHANNELS, channel.id);
    const parentId = item.parentId === undefined ? channel.parentId : item.parentId;
    checkParent(ctx, channel.type, parentId);
    return { channel, id: channel.id, position: item.position, parentId };
  });
  if (new Set(items.map((i) => i.id)).size !== items.length) throw invalid('positions', 'lists a channel twice');
  await ctx.deps.guilds.updateChannelPositions(ctx.id, items.map(({ id, position, parentId }) => ({ id, position, parentId })));
  const events = [];
  for (const { channel, position, parentId } of items) {
    const changes = diff(channel, { position, parentId }, ['position', 'parentId']);
    if (changes.length === 0) continue;
    state.channels.set(channel.id, { ...channel, position, parentId });
    events.push({ kind: 'channel.update' as const, actorId: userId, reason: null, channelId: channel.id, changes });
  }
  ctx.publish(events);
  return state.visibleChannels(userId).map((c) => channelView(state, c.id));
}

export async function deleteChannel(ctx: GuildContext, userId: string, p: Payload<typeof Method.CHANNEL_DELETE>): Promise<null> {
  const state = ctx.state;
  const channel = ctx.viewableChannel(userId, p.channelId);
  ctx.require(userId, Permission.MANAGE_CHANNELS, channel.id);
  await ctx.deps.guilds.deleteChannel(channel.id);
  const before = ctx.capture('all');
  // The delete event goes to the channel's viewers before their topics drop it.
  ctx.publish([{ kind: 'channel.delete', actorId: userId, reason: p.reason, channel }]);
  state.channels.delete(channel.id);
  state.overwrites.delete(channel.id);
  // Storage already nulled these references (on delete set null); viewers are told like any other change.
  const events: GuildDomainEvent[] = [];
  for (const [id, c] of state.channels) {
    if (c.parentId !== channel.id) continue;
    state.channels.set(id, { ...c, parentId: null });
    events.push({ kind: 'channel.update', actorId: userId, reason: p.reason, channelId: id, changes: [{ key: 'parentId', old: channel.id, new: null }] });
  }
  if (state.guild.systemChannelId === channel.id) {
    state.guild = { ...state.guild, systemChannelId: null };
    events.push({ kind: 'guild.update', actorId: userId, reason: p.reason, changes: [{ key: 'systemChannelId', old: channel.id, new: null }] });
  }
  ctx.publish(events, before);
  return null;
}

/** Non-admins may only allow or deny permissions they hold in the channel themselves. */
function checkGrantable(ctx: GuildContext, userId: string, channelId: string, bits: bigint): void {
  const have = ctx.require(userId, Permission.MANAGE_ROLES, channelId);
  if (has(have, ALL_PERMISSIONS)) return;
  if ((bits & ~have) !== 0n) throw new CommandError(ErrorCode.MISSING_PERMISSIONS, 'cannot grant or deny permissions you do not have');
}

export async function setOverwrite(ctx: GuildContext, userId: string, p: Payload<typeof Method.OVERWRITE_SET>): Promise<Channel> {
  const state = ctx.state;
  const channel = ctx.viewableChannel(userId, p.channelId);
  const allow = payloadBits('allow', p.allow);
  const deny = payloadBits('deny', p.deny);
  if ((allow & deny) !== 0n) throw invalid('allow', 'overlaps deny');
  checkGrantable(ctx, userId, channel.id, allow | deny);
  if (p.type === 'role' && !state.roles.has(p.targetId)) throw notFound(ErrorCode.UNKNOWN_ROLE, 'role');
  if (p.type === 'member') ctx.requireMember(p.targetId);
  const previous = state.overwrites.get(channel.id)?.get(p.targetId);
  if (previous && (previous.targetType === 0) !== (p.type === 'role')) throw invalid('type', 'does not match the existing overwrite');
  const overwrite: OverwriteRecord = { channelId: channel.id, targetId: p.targetId, targetType: p.type === 'role' ? 0 : 1, allow: p.allow, deny: p.deny };
  await ctx.deps.guilds.setOverwrite(overwrite);
  const before = ctx.capture(p.type === 'role' ? state.holdersOf(p.targetId) : [p.targetId]);
  state.setOverwrite(overwrite);
  const changes = diff(previous ?? { allow: '0', deny: '0' }, { allow: p.allow, deny: p.deny }, ['allow', 'deny']);
  ctx.publish([{ kind: 'overwrite.set', actorId: userId, reason: p.reason, channelId: channel.id, targetId: p.targetId, created: !previous, changes }], before);
  return channelView(state, channel.id);
}

export async function deleteOverwrite(ctx: GuildContext, userId: string, p: Payload<typeof Method.OVERWRITE_DELETE>): Promise<Channel> {
  const state = ctx.state;
  const channel = ctx.viewableChannel(userId, p.channelId);
  ctx.require(userId, Permission.MANAGE_ROLES, channel.id);
  const previous = state.overwrites.get(channel.id)?.get(p.targetId);
  if (!previous) throw notFound(ErrorCode.UNKNOWN_ROLE, 'overwrite');
  checkGrantable(ctx, userId, channel.id, parseBitfield(previous.allow) | parseBitfield(previous.deny));
  await ctx.deps.guilds.deleteOverwrite(channel.id, p.targetId);
  const before = ctx.capture(previous.targetType === 0 ? state.holdersOf(p.targetId) : [p.targetId]);
  state.deleteOverwrite(channel.id, p.targetId);
  const changes = [{ key: 'allow', old: previous.allow }, { key: 'deny', old: previous.deny }];
  ctx.publish([{ kind: 'overwrite.delete', actorId: userId, reason: p.reason, channelId: channel.id, targetId: p.targetId, changes }], before);
  return channelView(state, channel.id);
}
