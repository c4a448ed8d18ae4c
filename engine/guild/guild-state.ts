/**
 * A guild's hot state and its pure queries: membership, channels, roles, overwrites, what a member
 * may do and see, and the role hierarchy. No I/O: the GuildActor mutates it only after storage
 * accepted a change.
 */
import { ChannelType } from '../../protocol/opcodes.ts';
import {
  channelPermissions, basePermissions, has, Permission, parseBitfield, type Overwrite, type PermissionSubject,
} from '../../protocol/permissions.ts';
import type {
  ChannelRecord, GuildRecord, GuildSnapshot, MemberRecord, OverwriteRecord, RoleRecord,
} from '../../storage/records.ts';
import { topics } from '../cluster/topics.ts';

export class GuildState {
  readonly channels = new Map<string, ChannelRecord>();
  readonly members = new Map<string, MemberRecord>();
  readonly roles = new Map<string, RoleRecord>();
  /** channelId → targetId → overwrite */
  readonly overwrites = new Map<string, Map<string, OverwriteRecord>>();
  /** channelId → newest committed message id. */
  readonly lastMessageIds = new Map<string, string>();

  constructor(public guild: GuildRecord, private readonly now: () => number) {}

  static fromSnapshot(s: GuildSnapshot, now: () => number): GuildState {
    const state = new GuildState(s.guild, now);
    for (const c of s.channels) state.channels.set(c.id, c);
    for (const m of s.members) state.members.set(m.userId, m);
    for (const r of s.roles) state.roles.set(r.id, r);
    for (const o of s.overwrites) state.setOverwrite(o);
    return state;
  }

  get everyone(): RoleRecord {
    const role = this.roles.get(this.guild.id);
    if (!role) throw new Error(`guild ${this.guild.id} has no @everyone role`);
    return role;
  }

  isMember(userId: string): boolean {
    return this.members.has(userId);
  }

  isOwner(userId: string): boolean {
    return this.guild.ownerId === userId;
  }

  isTimedOut(userId: string): boolean {
    const until = this.members.get(userId)?.timeoutUntil;
    return until != null && until > this.now();
  }

  textChannel(channelId: string): ChannelRecord | undefined {
    const c = this.channels.get(channelId);
    return c && c.type === ChannelType.TEXT ? c : undefined;
  }

  setOverwrite(o: OverwriteRecord): void {
    let map = this.overwrites.get(o.channelId);
    if (!map) this.overwrites.set(o.channelId, (map = new Map()));
    map.set(o.targetId, o);
  }

  deleteOverwrite(channelId: string, targetId: string): void {
    this.overwrites.get(channelId)?.delete(targetId);
  }

  channelOverwrites(channelId: string): OverwriteRecord[] {
    return [...(this.overwrites.get(channelId)?.values() ?? [])];
  }

  private subject(userId: string): PermissionSubject {
    const member = this.members.get(userId);
    const roleIds = new Set(member?.roleIds ?? []);
    const rolePermissions: bigint[] = [];
    for (const id of roleIds) {
      const role = this.roles.get(id);
      if (role) rolePermissions.push(parseBitfield(role.permissions));
    }
    return {
      guildId: this.guild.id,
      ownerId: this.guild.ownerId,
      userId,
      everyone: parseBitfield(this.everyone.permissions),
      rolePermissions,
      roleIds,
      timedOut: this.isTimedOut(userId),
    };
  }

  /** Guild-level permissions of a member (0 for non-members). */
  permissions(userId: string): bigint {
    return this.isMember(userId) ? basePermissions(this.subject(userId)) : 0n;
  }

  /** Effective permissions of a member in a channel (0 for non-members and unknown channels). */
  channelPermissions(userId: string, channelId: string): bigint {
    if (!this.isMember(userId) || !this.channels.has(channelId)) return 0n;
    const overwrites: Overwrite[] = this.channelOverwrites(channelId).map((o) => ({
      type: o.targetType === 0 ? 'role' : 'member',
      id: o.targetId,
      allow: parseBitfield(o.allow),
      deny: parseBitfield(o.deny),
    }));
    return channelPermissions(this.subject(userId), overwrites);
  }

  canView(userId: string, channelId: string): boolean {
    return has(this.channelPermissions(userId, channelId), Permission.VIEW_CHANNEL);
  }

  /** Channels `userId` can see, by position then id. */
  visibleChannels(userId: string): ChannelRecord[] {
    if (!this.isMember(userId)) return [];
    return [...this.channels.values()]
      .filter((c) => this.canView(userId, c.id))
      .sort((a, b) => a.position - b.position || (a.id < b.id ? -1 : 1));
  }

  /** Topics a session of `userId` must hold to receive exactly what it may see of this guild. */
  topicsFor(userId: string): string[] {
    if (!this.isMember(userId)) return [];
    return [topics.guild(this.guild.id), ...this.visibleChannels(userId).map((c) => topics.channel(c.id))];
  }

  /** Members holding a role (every member for @everyone). */
  holdersOf(roleId: string): string[] {
    if (roleId === this.guild.id) return [...this.members.keys()];
    return [...this.members.values()].filter((m) => m.roleIds.includes(roleId)).map((m) => m.userId);
  }

  /** Position of the member's highest role; the owner is above everyone. */
  topPosition(userId: string): number {
    if (this.isOwner(userId)) return Number.POSITIVE_INFINITY;
    let top = 0;
    for (const id of this.members.get(userId)?.roleIds ?? []) top = Math.max(top, this.roles.get(id)?.position ?? 0);
    return top;
  }

  /** Whether `actorId` is above `targetId` in the hierarchy (nobody is above the owner). */
  outranks(actorId: string, targetId: string): boolean {
    if (this.isOwner(targetId)) return false;
    return this.topPosition(actorId) > this.topPosition(targetId);
  }

  /** Whether `actorId` may manage (edit, assign, delete) a role at `position`. */
  outranksRole(actorId: string, position: number): boolean {
    return this.topPosition(actorId) > position;
  }

  nextChannelPosition(): number {
    let max = -1;
    for (const c of this.channels.values()) max = Math.max(max, c.position);
    return max + 1;
  }

  nextRolePosition(): number {
    let max = 0;
    for (const r of this.roles.values()) max = Math.max(max, r.position);
    return max + 1;
  }

  /** Text channel that receives system messages, if it still exists. */
  systemChannel(): ChannelRecord | undefined {
    return this.guild.systemChannelId ? this.textChannel(this.guild.systemChannelId) : undefined;
  }
}
