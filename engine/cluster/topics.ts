/** Topic and stream names. A stream is the ordered sequence an event belongs to; a topic is who gets it. */
import { StreamKind } from '../../protocol/opcodes.ts';

export const topics = {
  guild: (guildId: string) => `g:${guildId}`,
  channel: (channelId: string) => `c:${channelId}`,
  dm: (dmId: string) => `d:${dmId}`,
  user: (userId: string) => `u:${userId}`,
};

export const streams = {
  guild: (guildId: string) => `${StreamKind.GUILD}:${guildId}`,
  dm: (dmId: string) => `${StreamKind.DM}:${dmId}`,
  user: (userId: string) => `${StreamKind.USER}:${userId}`,
};
