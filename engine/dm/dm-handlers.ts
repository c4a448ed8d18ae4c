/**
 * DM message handlers. Every participant may read, send, react, pin and type; only authors edit
 * or delete their messages. Each new message counts as a mention for the other participants.
 */
import { MessageType, type Method } from '../../protocol/opcodes.ts';
import type { Payload } from '../../protocol/payloads.ts';
import type { MessageRecord } from '../../storage/records.ts';
import { later } from '../actors/actor-system.ts';
import { forbidden } from '../command-error.ts';
import * as ops from '../messages/message-ops.ts';
import type { DmContext } from './dm-actor.ts';

export function send(ctx: DmContext, userId: string, p: Payload<typeof Method.DM_SEND>) {
  const { dm, deps, place } = ctx;
  const record: MessageRecord = {
    id: deps.ids.next(), type: MessageType.DEFAULT, channelId: dm.id, guildId: null, authorId: userId,
    content: p.content, nonce: p.nonce, mentions: null, createdAt: deps.clock.now(), editedAt: null, replyToId: p.replyTo, pinnedAt: null,
  };
  return later(ops.checkReply(place, p.replyTo).then(() => ops.appendMessage(place, record, (m) => onCommitted(ctx, m))));
}

/** Appends a typed system message (joins, leaves, renames) authored by `subjectId`. */
export function postSystemMessage(ctx: DmContext, type: number, subjectId: string, content = ''): void {
  const { dm, deps, place } = ctx;
  const record: MessageRecord = {
    id: deps.ids.next(), type, channelId: dm.id, guildId: null, authorId: subjectId,
    content, nonce: null, mentions: null, createdAt: deps.clock.now(), editedAt: null, replyToId: null, pinnedAt: null,
  };
  ops.appendMessage(place, record, (m) => onCommitted(ctx, m)).catch((err) => deps.logger.warn({ err, dm: dm.id, type }, 'system message not written'));
}

function onCommitted(ctx: DmContext, m: MessageRecord): void {
  const { dm, deps } = ctx;
  dm.lastMessageId = m.id;
  deps.dms.touch(dm.id, m.id).catch((err) => deps.logger.warn({ err, dm: dm.id }, 'dm touch failed'));
  if (m.type !== MessageType.DEFAULT) return;
  const others = dm.participantIds.filter((id) => id !== m.authorId);
  deps.readStates.addMentions(dm.id, others).catch((err) => deps.logger.warn({ err, dm: dm.id }, 'mention counts not updated'));
}

/** Runs outside the mailbox (see MessageLog.page), so a Postgres page never holds up the conversation. */
export function history(ctx: DmContext, userId: string, p: Payload<typeof Method.DM_HISTORY>) {
  return later(ops.history(ctx.place, userId, { before: p.before, after: p.after, around: p.around, limit: p.limit }));
}

export function edit(ctx: DmContext, userId: string, p: Payload<typeof Method.MESSAGE_EDIT>) {
  return ops.editMessage(ctx.place, userId, p.messageId, p.content, null);
}

export async function remove(ctx: DmContext, userId: string, p: Payload<typeof Method.MESSAGE_DELETE>): Promise<null> {
  const m = await ops.requireMessage(ctx.place, p.messageId);
  if (m.authorId !== userId || m.type !== MessageType.DEFAULT) throw forbidden('only the author can delete a direct message');
  await ops.removeMessage(ctx.place, m);
  return null;
}

export async function pin(ctx: DmContext, userId: string, p: Payload<typeof Method.MESSAGE_PIN>, pinned: boolean) {
  return (await ops.setPinned(ctx.place, userId, p.messageId, pinned)).message;
}

export function pins(ctx: DmContext, userId: string) {
  return ops.pinnedMessages(ctx.place, userId);
}

export function react(ctx: DmContext, userId: string, p: Payload<typeof Method.REACTION_ADD>, add: boolean) {
  return ops.react(ctx.place, userId, p.messageId, p.emoji, add);
}

export function ack(ctx: DmContext, userId: string, p: Payload<typeof Method.MESSAGE_ACK>) {
  return ops.ack(ctx.place, userId, p.messageId, ctx.deps.readStates);
}

export function typing(ctx: DmContext, userId: string) {
  return ops.typing(ctx.place, userId, ctx.lastTyping);
}
