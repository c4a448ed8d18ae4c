import type { Dm, UserSummary } from '../../protocol/types.ts';
import type { DmRecord } from '../../storage/records.ts';

/** The wire form of a DM; participants missing from `users` (deleted accounts) are left out. */
export function toWireDm(dm: DmRecord, users: ReadonlyMap<string, UserSummary>): Dm {
  const recipients: UserSummary[] = [];
  for (const id of dm.participantIds) {
    const u = users.get(id);
    if (u) recipients.push(u);
  }
  return {
    id: dm.id, type: dm.type as Dm['type'], recipients, createdAt: dm.createdAt, lastMessageId: dm.lastMessageId, name: dm.name, ownerId: dm.ownerId,
  };
}
