/**
 * Message operations shared by guild channels and DMs, after the owning actor has checked access:
 * edits, pins, reactions, typing, history and replies. Each persists first, then publishes on the
 * place's topic; the caller adds what differs (permissions, audit events).
 */
import { shareEncoding } from '../../protocol/codec.ts';
import { ErrorCode, EventType, MessageType } from '../../protocol/opcodes.ts';
import type { Message, MessageMentions, ReadState } from '../../protocol/types.ts';
import type { HistoryQuery, ReadStateStore } from '../../storage/ports.ts';
import { topics } from '../cluster/topics.ts';
import type { MessageRecord } from '../../storage/records.ts';
import { CommandError, forbidden, notFound } from '../command-error.ts';
import type { MessageLog } from './message-log.ts';
import { toWireMessage } from './message-view.ts';

/** Where messages live and how events about them leave. */
export interface MessagePlace {
  log: MessageLog;
  guildId: string | null;
  /** Topic of everyone who may see the place (c:<channel> or d:<dm>). */
  topic: string;
  emit(topic: string, type: string, data: unknown): void;
  /** Publishes an event outside the stream order (seq 0), never buffered or replayed. */
  ephemeral(topic: string, type: string, data: unknown): void;
  now(): number;
}

export const MAX_PINS = 50;
export const MAX_REACTION_EMOJI = 20;
export const TYPING_TTL_MS = 10_000;
/** A user's repeated typing.start within this window is acknowledged but not re-broadcast. */
export const TYPING_THROTTLE_MS = 5_000;

const ids = (p: MessagePlace, m: MessageRecord) => ({ id: m.id, channelId: m.channelId, guildId: p.guildId });

export async function requireMessage(p: MessagePlace, messageId: string): Promise<MessageRecord> {
  const m = await p.log.find(messageId);
  if (!m) throw notFound(ErrorCode.UNKNOWN_MESSAGE, 'message');
  return m;
}

/** The referenced message must exist in the same place. */
export async function checkReply(p: MessagePlace, replyTo: string | null): Promise<void> {
  if (replyTo !== null) await requireMessage(p, replyTo);
}

/**
 * Appends and publishes MESSAGE_CREATE with the reply preview; resolves after COMMIT with the same
 * object the event carries (a new message has no reactions yet), or with the original message when
 * the nonce was already used.
 */
export async function appendMessage(p: MessagePlace, record: MessageRecord, onCommitted?: (m: MessageRecord) => void): Promise<Message> {
  const preview = record.replyToId ? await p.log.preview(record.replyToId) : null;
  let created: Message | null = null;
  const stored = await p.log.append(record, (m) => {
    created = shareEncoding({ ...toWireMessage(m), referencedMessage: preview });
    p.emit(p.topic, EventType.MESSAGE_CREATE, created);
    onCommitted?.(m);
  });
  return created ?? (await p.log.present([stored], stored.authorId))[0]!;
}


export async function editMessage(p: MessagePlace, userId: string, messageId: string, content: string, mentions: MessageMentions | null): Promise<Message> {
  const m = await requireMessage(p, messageId);
  if (m.authorId !== userId || m.type !== MessageType.DEFAULT) throw forbidden('only the author can edit a message');
  const updated = await p.log.update(m, { content, editedAt: p.now(), mentions });
  if (!updated) throw notFound(ErrorCode.UNKNOWN_MESSAGE, 'message');
  p.emit(p.topic, EventType.MESSAGE_UPDATE, { ...ids(p, updated), content, editedAt: updated.editedAt, mentions: updated.mentions ?? toWireMessage(updated).mentions });
  return (await p.log.present([updated], userId))[0]!;
}

/** Deletes and publishes MESSAGE_DELETE; returns the deleted message. */
export async function removeMessage(p: MessagePlace, m: MessageRecord): Promise<void> {
  if (!(await p.log.delete(m.id))) throw notFound(ErrorCode.UNKNOWN_MESSAGE, 'message');
  p.emit(p.topic, EventType.MESSAGE_DELETE, ids(p, m));
}

/** Pins or unpins; `changed` is false when it already was in that state. */
export async function setPinned(p: MessagePlace, userId: string, messageId: string, pinned: boolean): Promise<{ message: Message; changed: boolean; record: MessageRecord }> {
  const m = await requireMessage(p, messageId);
  let record = m;
  const changed = (m.pinnedAt !== null) !== pinned;
  if (changed) {
    if (pinned && (await p.log.pinned()).length >= MAX_PINS) throw new CommandError(ErrorCode.LIMIT_REACHED, `at most ${MAX_PINS} pinned messages`);
    record = (await p.log.update(m, { pinnedAt: pinned ? p.now() : null })) ?? m;
    p.emit(p.topic, EventType.MESSAGE_UPDATE, { ...ids(p, record), pinned });
  }
  return { message: (await p.log.present([record], userId))[0]!, changed, record };
}

export async function pinnedMessages(p: MessagePlace, userId: string): Promise<Message[]> {
  return p.log.present(await p.log.pinned(), userId);
}

export async function react(p: MessagePlace, userId: string, messageId: string, emoji: string, add: boolean): Promise<null> {
  const m = await requireMessage(p, messageId);
  if (add && (await p.log.emojiCount(m.id)) >= MAX_REACTION_EMOJI) {
    const existing = (await p.log.present([m], userId))[0]!.reactions.some((r) => r.emoji === emoji);
    if (!existing) throw new CommandError(ErrorCode.LIMIT_REACHED, `at most ${MAX_REACTION_EMOJI} different reactions per message`);
  }
  if (await p.log.react(m.id, userId, emoji, add, p.now())) {
    p.emit(p.topic, add ? EventType.MESSAGE_REACTION_ADD : EventType.MESSAGE_REACTION_REMOVE, {
      messageId: m.id, channelId: m.channelId, guildId: p.guildId, userId, emoji,
    });
  }
  return null;
}

/** Broadcasts TYPING_START unless the same user did so in this place within the throttle window. */
export function typing(p: MessagePlace, userId: string, lastTyping: Map<string, number>): null {
  const now = p.now();
  const key = `${p.log.channelId}:${userId}`;
  const last = lastTyping.get(key);
  if (last !== undefined && now - last < TYPING_THROTTLE_MS) return null;
  lastTyping.set(key, now);
  if (lastTyping.size > 10_000) for (const [k, t] of lastTyping) if (now - t > TYPING_TTL_MS) lastTyping.delete(k);
  p.ephemeral(p.topic, EventType.TYPING_START, { channelId: p.log.channelId, guildId: p.guildId, userId, expiresAt: now + TYPING_TTL_MS });
  return null;
}

/**
 * Moves `userId`'s read marker to `messageId` (never backwards) and clears its mention count; the
 * change goes to all of the user's sessions on the user topic.
 */
export async function ack(p: MessagePlace, userId: string, messageId: string, readStates: ReadStateStore): Promise<ReadState> {
  await requireMessage(p, messageId);
  const r = await readStates.ack(userId, p.log.channelId, messageId);
  const state: ReadState = { channelId: r.channelId, lastReadId: r.lastReadId, mentionCount: r.mentionCount };
  p.emit(topics.user(userId), EventType.READ_STATE_UPDATE, state);
  return state;
}

export async function history(p: MessagePlace, viewerId: string, query: HistoryQuery): Promise<Message[]> {
  return p.log.history(query, viewerId);
}
