/**
 * The people part of READY: the user's own profile, every relationship, and the presence of the
 * user, their friends and the members of their guilds — at most `readyPresenceGuildLimit` members
 * per guild (READY_PRESENCE_GUILD_LIMIT, lowest user ids first). Only users who are not offline
 * (as the viewer sees them: invisible users are left out) are listed, except the user themself,
 * whose own entry shows their real status. Presence is best effort: when the ephemeral store cannot
 * be read, READY carries no presences rather than failing.
 */
import type { Presence, Relationship, SelfProfile } from '../../protocol/types.ts';
import type { ReadyRecord } from '../../storage/records.ts';
import { toRelationship, toSelfProfile } from './people-views.ts';
import { visibleCustom, visibleStatus } from './presence-model.ts';
import type { PresenceStore, StoredPresence } from './presence-store.ts';

export interface ReadyPeopleDeps {
  presence: PresenceStore;
  /** READY_PRESENCE_GUILD_LIMIT: members per guild whose presence READY carries (ReadyStore.loadMany's membersPerGuild). */
  readyPresenceGuildLimit: number;
  /** Called when presences could not be read (READY then carries none). */
  onPresenceUnavailable?(err: unknown): void;
}

/** `rec` is what ReadyStore.loadMany read for the user (with readyPresenceGuildLimit members per guild). */
export async function readyPeople(
  deps: ReadyPeopleDeps, rec: ReadyRecord,
): Promise<{ user: SelfProfile; relationships: Relationship[]; presences: Presence[] }> {
  const me = rec.profile.id;
  const relationships = rec.relationships.map((r) => toRelationship(r.record, r.profile));
  const watched = new Set(rec.guildMemberIds);
  for (const r of rec.relationships) if (r.record.type === 1) watched.add(r.record.otherId);
  watched.delete(me);
  // Presence is ephemeral: with the ephemeral store unreachable, READY goes out without it.
  const stored = await deps.presence.getMany([me, ...watched]).catch((err: unknown) => {
    deps.onPresenceUnavailable?.(err);
    return new Map<string, StoredPresence>();
  });
  const presences: Presence[] = [];
  for (const [userId, p] of stored) {
    const status = userId === me ? p.status : visibleStatus(p.status);
    if (status === 'offline' && userId !== me) continue;
    presences.push({ userId, status, customStatus: userId === me ? p.custom : visibleCustom(status, p.custom) });
  }
  return { user: toSelfProfile(rec.profile, rec.email), relationships, presences };
}
