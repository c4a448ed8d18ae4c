/** Wire forms of profiles and relationships. None of them carries an email except SelfProfile. */
import type { RelationshipTypeValue } from '../../protocol/opcodes.ts';
import type { Profile, Relationship, SelfProfile, UserSummary } from '../../protocol/types.ts';
import type { ProfileRecord, RelationshipRecord } from '../../storage/records.ts';

export function toSummary(p: ProfileRecord): UserSummary {
  return { id: p.id, nickname: p.nickname, displayName: p.displayName, avatarUrl: p.avatarUrl };
}

export function toProfile(p: ProfileRecord): Profile {
  return { ...toSummary(p), bio: p.bio, createdAt: p.createdAt };
}

export function toSelfProfile(p: ProfileRecord, email: string): SelfProfile {
  return { ...toProfile(p), email };
}

export function toRelationship(r: RelationshipRecord, other: ProfileRecord): Relationship {
  return { user: toSummary(other), type: r.type as RelationshipTypeValue, since: r.createdAt };
}

/** Summaries by id for the profiles given. */
export function summaries(profiles: readonly ProfileRecord[]): Map<string, UserSummary> {
  return new Map(profiles.map((p) => [p.id, toSummary(p)]));
}
