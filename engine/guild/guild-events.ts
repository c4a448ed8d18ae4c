/**
 * Internal domain events a GuildActor emits after a change is persisted. They are the single
 * source for what happened: the broadcast projection turns them into gateway events, the audit
 * projection into audit log entries. Not wire types.
 */
import type { User } from '../../protocol/types.ts';
import type {
  BanRecord, ChannelRecord, InviteRecord, MemberRecord, MessageRecord, RoleRecord,
} from '../../storage/records.ts';

export interface Change {
  key: string;
  old?: unknown;
  new?: unknown;
}

interface Base {
  /** Who caused it. */
  actorId: string;
  reason: string | null;
}

export type GuildDomainEvent = Base &
  (
    | { kind: 'guild.update'; changes: Change[] }
    | { kind: 'guild.delete' }
    | { kind: 'channel.create'; channel: ChannelRecord }
    | { kind: 'channel.update'; channelId: string; changes: Change[] }
    | { kind: 'channel.delete'; channel: ChannelRecord }
    | { kind: 'overwrite.set'; channelId: string; targetId: string; created: boolean; changes: Change[] }
    | { kind: 'overwrite.delete'; channelId: string; targetId: string; changes: Change[] }
    | { kind: 'role.create'; role: RoleRecord }
    | { kind: 'role.update'; roleId: string; changes: Change[]; sideEffect?: boolean }
    | { kind: 'role.delete'; role: RoleRecord }
    | { kind: 'member.join'; userId: string; user: User; member: MemberRecord }
    | { kind: 'member.leave'; userId: string; user: User }
    | { kind: 'member.roles'; userId: string; user: User; added: string[]; removed: string[] }
    | { kind: 'member.update'; userId: string; user: User; changes: Change[] }
    | { kind: 'member.kick'; userId: string; user: User }
    | { kind: 'member.ban'; userId: string; user: User; ban: BanRecord; wasMember: boolean }
    | { kind: 'member.unban'; userId: string; user: User }
    | { kind: 'invite.create'; invite: InviteRecord }
    | { kind: 'invite.delete'; invite: InviteRecord }
    | { kind: 'message.delete'; message: MessageRecord; byModerator: boolean }
    | { kind: 'message.pin'; message: MessageRecord }
    | { kind: 'message.unpin'; message: MessageRecord }
  );

export type GuildEventKind = GuildDomainEvent['kind'];

/** Before/after pairs of the keys whose values differ. */
export function diff<T extends object>(before: T, after: Partial<T>, keys: readonly (keyof T & string)[]): Change[] {
  const out: Change[] = [];
  for (const key of keys) {
    if (!(key in after) || after[key] === undefined) continue;
    if (before[key] !== after[key]) out.push({ key, old: before[key], new: after[key] });
  }
  return out;
}
