/**
 * The people part of READY: the user's own profile, every relationship, and the presence of the
 * user, their friends and the members of their guilds — at most `readyPresenceGuildLimit` members
 * per guild (READY_PRESENCE_GUILD_LIMIT, lowest user ids first). Only users who are not offline
 * (as the viewer sees them: invisible users are left out) are listed, except the user themself,
 * whose own entry shows their real status. Presence is best effort: when the ephemeral store cannot
 * be read, READY carries no presences rather than failing.
 */
import type { Presence, Relationship, SelfProfile } from '../../protocol/types.ts';
import type { ProfileStore, RelationshipStore } from '../../storage/ports.ts';
import type { UserRecord } from '../../storage/records.ts';
import { CommandError } from '../command-error.ts';
import { ErrorCode } from '../../protocol/opcodes.ts';
import { toRelationship, toSelfProfile } from './people-views.ts';
import { visibleCustom, visibleStatus } from './presence-model.ts';
import type { PresenceStore, StoredPresence } from './presence-store.ts';

export interface ReadyPeopleDeps {
  profiles: ProfileStore;
  relationships: RelationshipStore;
  presence: PresenceStore;
  readyPresenceGuildLimit: number;
  /** Called when presences could not be read (READY then carries none). */
  onPresenceUnavailable?(err: unknown): void;
}

export async function readyPeople(
  deps: ReadyPeopleDeps, me: UserRecord, guildIds: readonly string[],
): Promise<{ user: SelfProfile; relationships: Relationship[]; presences: Presence[] }> {
  const [profile, rows, members] = await Promise.all([
    deps.profiles.get(me.id),
    deps.relationships.list(me.id),
    deps.relationships.guildMemberIds(guildIds, deps.readyPresenceGuildLimit),
  ]);
  if (!profile) throw new CommandError(ErrorCode.AUTH_FAILED, 'user no longer exists');
  const others = new Map((await deps.profiles.getMany(rows.map((r) => r.otherId))).map((p) => [p.id, p]));
  const relationships = rows.filter((r) => others.has(r.otherId)).map((r) => toRelationship(r, others.get(r.otherId)!));

  const watched = new Set(members);
  for (const r of rows) if (r.type === 1) watched.add(r.otherId);
  watched.delete(me.id);
  // Presence is ephemeral: with the ephemeral store unreachable, READY goes out without it.
  const stored = await deps.presence.getMany([me.id, ...watched]).catch((err: unknown) => {
    deps.onPresenceUnavailable?.(err);
    return new Map<string, StoredPresence>();
  });
  const presences: Presence[] = [];
  for (const [userId, p] of stored) {
    const status = userId === me.id ? p.status : visibleStatus(p.status);
    if (status === 'offline' && userId !== me.id) continue;
    presences.push({ userId, status, customStatus: userId === me.id ? p.custom : visibleCustom(status, p.custom) });
  }
  return { user: toSelfProfile(profile, me.email), relationships, presences };
}
