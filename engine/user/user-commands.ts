import type { TopicChange } from '../cluster/bus.ts';
import type { RelationshipAction } from '../people/relationship-rules.ts';
import type { SessionStatus } from '../people/presence-model.ts';
import type { ProfilePatch } from '../../storage/ports.ts';

/** Commands a UserActor accepts; it owns the user's event stream and the user's own relationships. */
export type UserCommand =
  /** Re-topic the user's sessions, then emit one event on the user's stream (in that order). */
  | { type: 'notify'; eventType: string; data: unknown; change?: TopicChange }
  | { type: 'openDm'; targetId: string }
  | { type: 'mute'; targetId: string; targetType: 'channel' | 'guild' | 'dm'; until: number | null }
  | { type: 'unmute'; targetId: string }
  | { type: 'position' }
  | PeopleCommand;

/** Profiles, relationships, presence and conversations (engine/user/user-people.ts). */
export type PeopleCommand =
  | { type: 'profile.get' }
  | { type: 'profile.update'; patch: ProfilePatch }
  | { type: 'user.get'; targetId: string }
  | { type: 'user.search'; prefix: string; limit: number }
  | { type: 'relationship.list' }
  /** The caller acts on its relationship with another user (named by id, or by nickname for requests). */
  | { type: 'relationship'; action: RelationshipAction; targetId: string | null; nickname: string | null }
  /** Another user changed the relationship with this one: re-read it and tell this user's sessions. */
  | { type: 'relationship.sync'; otherId: string }
  /** A connection of `loginId` became ready (`field` names it in the presence hash). */
  /** `status`: the one IDENTIFY asked for, applied to the login as presence.set would. */
  | { type: 'presence.open'; field: string; loginId: string; status?: SessionStatus }
  | { type: 'presence.close'; field: string }
  | { type: 'presence.set'; loginId: string; status: SessionStatus | undefined; customStatus: string | null | undefined }
  /** The grace period that began when the last connection closed is over (`token` names that period). */
  | { type: 'presence.expire'; token: number }
  /** A node holding connections of this user died: recompute without them. */
  | { type: 'presence.recheck' }
  | { type: 'dm.list'; before: string | null; limit: number }
  | { type: 'dm.group.create'; userIds: string[]; name: string | null };
