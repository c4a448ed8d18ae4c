import type { Message } from '../../protocol/types.ts';
import type { MessageRecord } from '../../storage/records.ts';

const NO_MENTIONS = Object.freeze({ users: [], roles: [], everyone: false });

export function toWireMessage(m: MessageRecord): Message {
  return {
    id: m.id,
    type: m.type,
    channelId: m.channelId,
    guildId: m.guildId,
    authorId: m.authorId,
    content: m.content,
    createdAt: m.createdAt,
    nonce: m.nonce,
    mentions: m.mentions ?? NO_MENTIONS,
    editedAt: m.editedAt,
    replyToId: m.replyToId,
    referencedMessage: null,
    pinned: m.pinnedAt !== null,
    reactions: [],
  };
}
