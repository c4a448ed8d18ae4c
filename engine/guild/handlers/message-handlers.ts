/**
 * Messages in guild channels: permission checks and guild-only rules (mentions, moderator deletes,
 * audit of pins) around the shared operations of engine/messages/message-ops.ts. Sends are
 * pipelined: the decision is taken in mailbox order, the ack and the broadcast wait for the group
 * commit without holding up the next command.
 */
import { ErrorCode, EventType, MessageType, type Method } from '../../../protocol/opcodes.ts';
import { has, Permission } from '../../../protocol/permissions.ts';
import type { Payload } from '../../../protocol/payloads.ts';
import type { Message } from '../../../protocol/types.ts';
import type { MessageMentions, MessageRecord } from '../../../storage/records.ts';
import { later } from '../../actors/actor-system.ts';
import { topics } from '../../cluster/topics.ts';
import { notFound } from '../../command-error.ts';
import * as ops from '../../messages/message-ops.ts';
import type { GuildContext } from '../guild-context.ts';
import { parseMentions } from '../mentions.ts';

type PlacePayload = { channelId: string | null };

/** Keeps only mentions the author may make; role and @everyone pings need mentionable or MENTION_EVERYONE. */
function resolveMentions(ctx: GuildContext, content: string, perms: bigint): MessageMentions {
  const state = ctx.state;
  const parsed = parseMentions(content);
  const canPingAll = has(perms, Permission.MENTION_EVERYONE);
  return {
    users: parsed.users.filter((id) => state.isMember(id)),
    roles: parsed.roles.filter((id) => {
      const role = state.roles.get(id);
      return role !== undefined && id !== ctx.id && (role.mentionable || canPingAll);
    }),
    everyone: parsed.everyone && canPingAll,
  };
}

/**
 * Mentioned members who can see the channel (directly, by role, or all viewers for @everyone) get
 * a mention counted in their read state; those who have not muted the channel or guild also get
 * MESSAGE_MENTION.
 */
function notifyMentioned(ctx: GuildContext, m: MessageRecord): void {
  if (!m.mentions) return;
  const state = ctx.state;
  const targets = new Set(m.mentions.users);
  for (const roleId of m.mentions.roles) for (const id of state.holdersOf(roleId)) targets.add(id);
  if (m.mentions.everyone) for (const id of state.members.keys()) targets.add(id);
  targets.delete(m.authorId);
  const visible = [...targets].filter((id) => state.canView(id, m.channelId));
  if (visible.length === 0) return;
  const { readStates, mutes, logger } = ctx.deps;
  readStates.addMentions(m.channelId, visible).catch((err) => logger.warn({ err, channelId: m.channelId }, 'mention counts not updated'));
  const data = { messageId: m.id, channelId: m.channelId, guildId: ctx.id, authorId: m.authorId };
  mutes.mutedAmong(visible, [m.channelId, ctx.id], ctx.now()).then(
    (muted) => {
      for (const id of visible) if (!muted.has(id)) ctx.emit(topics.user(id), EventType.MESSAGE_MENTION, data);
    },
    (err) => logger.warn({ err, channelId: m.channelId }, 'mention notifications not sent'),
  );
}

function onCommitted(ctx: GuildContext) {
  return (m: MessageRecord) => {
    ctx.state.lastMessageIds.set(m.channelId, m.id);
    notifyMentioned(ctx, m);
  };
}

/** The text channel of a place payload that `userId` can view, with `needed` permissions there. */
function textChannel(ctx: GuildContext, userId: string, channelId: string, needed: bigint) {
  const channel = ctx.viewableChannel(userId, channelId);
  if (!ctx.state.textChannel(channel.id)) throw notFound(ErrorCode.UNKNOWN_CHANNEL, 'text channel');
  const perms = ctx.require(userId, Permission.VIEW_CHANNEL | needed, channel.id);
  return { channel, perms, place: ctx.place(channel.id) };
}

export function sendMessage(ctx: GuildContext, userId: string, p: Payload<typeof Method.MESSAGE_SEND>) {
  const { channel, perms, place } = textChannel(ctx, userId, p.channelId, Permission.SEND_MESSAGES);
  const record: MessageRecord = {
    id: ctx.deps.ids.next(), type: MessageType.DEFAULT, channelId: channel.id, guildId: ctx.id, authorId: userId,
    content: p.content, nonce: p.nonce, mentions: resolveMentions(ctx, p.content, perms), createdAt: ctx.now(),
    editedAt: null, replyToId: p.replyTo, pinnedAt: null,
  };
  // The reply target is checked inside the pipelined part: it may be a message still committing.
  return later(ops.checkReply(place, p.replyTo).then(() => ops.appendMessage(place, record, onCommitted(ctx))));
}

/** Writes a typed system message about `subjectId` to the guild's system channel, if it has one. */
export function postSystemMessage(ctx: GuildContext, type: number, subjectId: string): void {
  const channel = ctx.state.systemChannel();
  if (!channel) return;
  const record: MessageRecord = {
    id: ctx.deps.ids.next(), type, channelId: channel.id, guildId: ctx.id, authorId: subjectId,
    content: '', nonce: null, mentions: null, createdAt: ctx.now(), editedAt: null, replyToId: null, pinnedAt: null,
  };
  ops.appendMessage(ctx.place(channel.id), record, onCommitted(ctx)).catch((err) =>
    ctx.deps.logger.warn({ err, guildId: ctx.id, type }, 'system message not written'));
}

/** Checked in mailbox order; the read itself runs outside the mailbox, so a Postgres page never holds up the guild. */
export function messageHistory(ctx: GuildContext, userId: string, p: Payload<typeof Method.MESSAGE_HISTORY>) {
  const { place } = textChannel(ctx, userId, p.channelId, Permission.READ_MESSAGE_HISTORY);
  return later(ops.history(place, userId, { before: p.before, after: p.after, around: p.around, limit: p.limit }));
}

export async function editMessage(ctx: GuildContext, userId: string, p: Payload<typeof Method.MESSAGE_EDIT> & PlacePayload) {
  const { perms, place } = textChannel(ctx, userId, p.channelId!, Permission.SEND_MESSAGES);
  return ops.editMessage(place, userId, p.messageId, p.content, resolveMentions(ctx, p.content, perms));
}

export async function deleteMessage(ctx: GuildContext, userId: string, p: Payload<typeof Method.MESSAGE_DELETE> & PlacePayload): Promise<null> {
  const { channel, place } = textChannel(ctx, userId, p.channelId!, 0n);
  const message = await ops.requireMessage(place, p.messageId);
  // System messages name their subject as author, but only moderators may remove them.
  const byModerator = message.authorId !== userId || message.type !== MessageType.DEFAULT;
  if (byModerator) ctx.require(userId, Permission.MANAGE_MESSAGES, channel.id);
  await ops.removeMessage(place, message);
  ctx.publish([{ kind: 'message.delete', actorId: userId, reason: p.reason, message, byModerator }]);
  return null;
}

export async function pinMessage(ctx: GuildContext, userId: string, p: Payload<typeof Method.MESSAGE_PIN> & PlacePayload, pinned: boolean) {
  const { place } = textChannel(ctx, userId, p.channelId!, Permission.PIN_MESSAGES);
  const { message, changed, record } = await ops.setPinned(place, userId, p.messageId, pinned);
  if (changed) ctx.publish([{ kind: pinned ? 'message.pin' : 'message.unpin', actorId: userId, reason: p.reason, message: record }]);
  return message;
}

export function pinnedMessages(ctx: GuildContext, userId: string, p: PlacePayload) {
  const { place } = textChannel(ctx, userId, p.channelId!, Permission.READ_MESSAGE_HISTORY);
  return ops.pinnedMessages(place, userId);
}

export function react(ctx: GuildContext, userId: string, p: Payload<typeof Method.REACTION_ADD> & PlacePayload, add: boolean) {
  const { place } = textChannel(ctx, userId, p.channelId!, Permission.READ_MESSAGE_HISTORY | (add ? Permission.ADD_REACTIONS : 0n));
  return ops.react(place, userId, p.messageId, p.emoji, add);
}

export function ack(ctx: GuildContext, userId: string, p: Payload<typeof Method.MESSAGE_ACK> & PlacePayload) {
  const { place } = textChannel(ctx, userId, p.channelId!, 0n);
  return ops.ack(place, userId, p.messageId, ctx.deps.readStates);
}

export function startTyping(ctx: GuildContext, userId: string, p: PlacePayload) {
  const { place } = textChannel(ctx, userId, p.channelId!, Permission.SEND_MESSAGES);
  return ops.typing(place, userId, ctx.lastTyping);
}
