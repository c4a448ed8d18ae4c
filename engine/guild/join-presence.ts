/**
 * Presence when someone joins a guild (READY covers it for guilds a session already has): the
 * joiner's sessions get a PRESENCE_UPDATE for every member who does not look offline — among at
 * most `limit` members (the longest-standing first: O(limit) however large the guild) — and the
 * guild's members get the joiner's presence unless it looks offline. Ephemeral (seq 0) and best
 * effort: presence lives in the ephemeral store, and the join stands whether or not it can be read.
 */
import { encodeEvent } from '../../protocol/codec.ts';
import { EventType } from '../../protocol/opcodes.ts';
import type { Presence } from '../../protocol/types.ts';
import { topics } from '../cluster/topics.ts';
import { presenceSeenByOthers } from '../people/presence-model.ts';
import type { PresenceStore, StoredPresence } from '../people/presence-store.ts';
import type { Bus } from '../cluster/bus.ts';

export interface JoinPresenceDeps {
  presence: PresenceStore;
  bus: Bus;
  /** Members whose presence a joiner is sent, at most (READY_PRESENCE_GUILD_LIMIT). */
  limit: number;
}

/** What everyone but the user sees of a stored presence, or null when that is offline. */
function seenPresence(userId: string, p: StoredPresence | undefined): Presence | null {
  const seen = p ? presenceSeenByOthers(userId, p.status, p.custom) : null;
  return seen && seen.status !== 'offline' ? seen : null;
}

export async function announceJoin(deps: JoinPresenceDeps, guildId: string, joinerId: string, memberIds: Iterable<string>): Promise<void> {
  const others: string[] = [];
  for (const id of memberIds) {
    if (others.length >= deps.limit) break;
    if (id !== joinerId) others.push(id);
  }
  const stored = await deps.presence.getMany([joinerId, ...others]);
  const mine = seenPresence(joinerId, stored.get(joinerId));
  if (mine) deps.bus.publish(topics.guild(guildId), encodeEvent(EventType.PRESENCE_UPDATE, topics.user(joinerId), 0, 0, mine));
  const joinerTopic = topics.user(joinerId);
  for (const id of others) {
    const seen = seenPresence(id, stored.get(id));
    if (seen) deps.bus.publish(joinerTopic, encodeEvent(EventType.PRESENCE_UPDATE, topics.user(id), 0, 0, seen));
  }
}
