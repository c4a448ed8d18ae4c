/**
 * Audit log subscriber: turns administrative domain events into audit entries. Entries are
 * written through a group-commit writer right after the change they describe was committed.
 */
import type { Logger } from 'pino';
import { AuditAction } from '../../protocol/opcodes.ts';
import type { SnowflakeGenerator, Clock } from '../../protocol/ids.ts';
import type { GroupCommitWriter } from '../../storage/group-commit-writer.ts';
import type { AuditLogStore, AuditQuery } from '../../storage/ports.ts';
import type { AuditEntryRecord } from '../../storage/records.ts';
import type { Change, GuildDomainEvent } from './guild-events.ts';

type Entry = { action: number; targetId: string | null; changes: Change[] };

/** The audit entry for an event, or null when the event is not administrative. */
export function auditEntryFor(e: GuildDomainEvent): Entry | null {
  switch (e.kind) {
    case 'guild.update':
      return { action: AuditAction.GUILD_UPDATE, targetId: null, changes: e.changes };
    case 'channel.create':
      return { action: AuditAction.CHANNEL_CREATE, targetId: e.channel.id, changes: [{ key: 'name', new: e.channel.name }, { key: 'type', new: e.channel.type }] };
    case 'channel.update':
      return { action: AuditAction.CHANNEL_UPDATE, targetId: e.channelId, changes: e.changes };
    case 'channel.delete':
      return { action: AuditAction.CHANNEL_DELETE, targetId: e.channel.id, changes: [{ key: 'name', old: e.channel.name }] };
    case 'overwrite.set':
      return { action: e.created ? AuditAction.OVERWRITE_CREATE : AuditAction.OVERWRITE_UPDATE, targetId: e.channelId, changes: [{ key: 'target_id', new: e.targetId }, ...e.changes] };
    case 'overwrite.delete':
      return { action: AuditAction.OVERWRITE_DELETE, targetId: e.channelId, changes: [{ key: 'target_id', old: e.targetId }, ...e.changes] };
    case 'role.create':
      return { action: AuditAction.ROLE_CREATE, targetId: e.role.id, changes: [{ key: 'name', new: e.role.name }, { key: 'permissions', new: e.role.permissions }] };
    case 'role.update':
      // Roles shifted up to make room for a new one are a side effect of ROLE_CREATE.
      return e.sideEffect ? null : { action: AuditAction.ROLE_UPDATE, targetId: e.roleId, changes: e.changes };
    case 'role.delete':
      return { action: AuditAction.ROLE_DELETE, targetId: e.role.id, changes: [{ key: 'name', old: e.role.name }] };
    case 'member.roles':
      return {
        action: AuditAction.MEMBER_ROLE_UPDATE, targetId: e.userId,
        changes: [...(e.added.length ? [{ key: '$add', new: e.added }] : []), ...(e.removed.length ? [{ key: '$remove', new: e.removed }] : [])],
      };
    case 'member.update':
      // A member changing their own nickname is not administrative.
      return e.actorId === e.userId ? null : { action: AuditAction.MEMBER_UPDATE, targetId: e.userId, changes: e.changes };
    case 'member.kick':
      return { action: AuditAction.MEMBER_KICK, targetId: e.userId, changes: [] };
    case 'member.ban':
      return { action: AuditAction.MEMBER_BAN_ADD, targetId: e.ban.userId, changes: [] };
    case 'member.unban':
      return { action: AuditAction.MEMBER_BAN_REMOVE, targetId: e.userId, changes: [] };
    case 'invite.create':
      return { action: AuditAction.INVITE_CREATE, targetId: null, changes: [{ key: 'code', new: e.invite.code }, { key: 'max_uses', new: e.invite.maxUses }] };
    case 'invite.delete':
      return { action: AuditAction.INVITE_DELETE, targetId: null, changes: [{ key: 'code', old: e.invite.code }] };
    case 'message.delete':
      return e.byModerator
        ? { action: AuditAction.MESSAGE_DELETE, targetId: e.message.authorId, changes: [{ key: 'channel_id', new: e.message.channelId }] }
        : null;
    case 'message.pin':
      return { action: AuditAction.MESSAGE_PIN, targetId: e.message.authorId, changes: [{ key: 'message_id', new: e.message.id }, { key: 'channel_id', new: e.message.channelId }] };
    case 'message.unpin':
      return { action: AuditAction.MESSAGE_UNPIN, targetId: e.message.authorId, changes: [{ key: 'message_id', new: e.message.id }, { key: 'channel_id', new: e.message.channelId }] };
    case 'guild.delete':
    case 'member.join':
    case 'member.leave':
      return null;
  }
}

/** Audit change keys are snake_case, like Discord's (`iconUrl` → `icon_url`). */
const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export class AuditProjection {
  constructor(
    private readonly store: AuditLogStore,
    private readonly writer: GroupCommitWriter<AuditEntryRecord>,
    private readonly ids: SnowflakeGenerator,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Records the event if it is administrative; never throws (a failed write is logged). */
  record(guildId: string, e: GuildDomainEvent): void {
    const entry = auditEntryFor(e);
    if (!entry) return;
    const row: AuditEntryRecord = {
      id: this.ids.next(), guildId, actorId: e.actorId, action: entry.action, targetId: entry.targetId,
      changes: entry.changes.map((c) => ({ ...c, key: snakeCase(c.key) })), reason: e.reason, createdAt: this.clock.now(),
    };
    this.writer.write(row).catch((err) => this.logger.error({ err, guildId, action: entry.action }, 'audit entry not written'));
  }

  /** Resolves once every entry recorded so far is written (or failed). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Entries newest first; waits for entries recorded so far to be written (read your writes). */
  async query(guildId: string, query: AuditQuery): Promise<AuditEntryRecord[]> {
    await this.writer.flush();
    return this.store.query(guildId, query);
  }
}
