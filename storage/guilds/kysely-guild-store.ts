/**
 * GuildStore over Kysely (Postgres or PGlite): guilds with their channels, roles, permission
 * overwrites, members (and their roles), invites and bans.
 */
import type { Kysely, Selectable, Transaction, Updateable } from 'kysely';
import type { GuildStore } from '../ports.ts';
import { toStorageError } from '../pg-errors.ts';
import {
  ConflictError, type BanRecord, type ChannelRecord, type GuildRecord, type GuildSnapshot, type InviteRecord,
  type MemberRecord, type OverwriteRecord, type RoleRecord,
} from '../records.ts';
import {
  toDate, toMillis, type BansTable, type ChannelOverwritesTable, type ChannelsTable, type DB, type GuildsTable,
  type InvitesTable, type MembersTable, type RolesTable,
} from '../schema.ts';

/** Unique constraints (see migrations) → ConflictError field. */
const CONFLICTS = {
  guilds_pkey: 'guild',
  channels_pkey: 'channel',
  members_pkey: 'member',
  invites_pkey: 'invite',
  roles_pkey: 'role',
  roles_guild_id_key: 'role',
} as const;

function guildToRecord(row: Selectable<GuildsTable>): GuildRecord {
  return {
    id: row.id,
    name: row.name,
    ownerId: row.owner_id,
    description: row.description,
    iconUrl: row.icon_url,
    systemChannelId: row.system_channel_id,
    createdAt: toMillis(row.created_at),
  };
}

function channelToRow(c: ChannelRecord) {
  return {
    id: c.id,
    guild_id: c.guildId,
    type: c.type,
    name: c.name,
    topic: c.topic,
    parent_id: c.parentId,
    position: c.position,
    created_at: toDate(c.createdAt),
  };
}

function channelToRecord(row: Selectable<ChannelsTable>): ChannelRecord {
  return {
    id: row.id,
    guildId: row.guild_id,
    type: row.type,
    name: row.name,
    topic: row.topic,
    parentId: row.parent_id,
    position: row.position,
    createdAt: toMillis(row.created_at),
  };
}

function roleToRow(r: RoleRecord) {
  return {
    id: r.id,
    guild_id: r.guildId,
    name: r.name,
    color: r.color,
    permissions: r.permissions,
    position: r.position,
    mentionable: r.mentionable,
    hoist: r.hoist,
    created_at: toDate(r.createdAt),
  };
}

function roleToRecord(row: Selectable<RolesTable>): RoleRecord {
  return {
    id: row.id,
    guildId: row.guild_id,
    name: row.name,
    color: row.color,
    permissions: row.permissions,
    position: row.position,
    mentionable: row.mentionable,
    hoist: row.hoist,
    createdAt: toMillis(row.created_at),
  };
}

function overwriteToRecord(row: Selectable<ChannelOverwritesTable>): OverwriteRecord {
  return {
    channelId: row.channel_id,
    targetId: row.target_id,
    targetType: row.target_type === 1 ? 1 : 0,
    allow: row.allow,
    deny: row.deny,
  };
}

function memberToRecord(row: Selectable<MembersTable>, roleIds: string[]): MemberRecord {
  return {
    guildId: row.guild_id,
    userId: row.user_id,
    joinedAt: toMillis(row.joined_at),
    nickname: row.nickname,
    timeoutUntil: row.timeout_until === null ? null : toMillis(row.timeout_until),
    roleIds,
  };
}

function inviteToRecord(row: Selectable<InvitesTable>): InviteRecord {
  return {
    code: row.code,
    guildId: row.guild_id,
    channelId: row.channel_id,
    inviterId: row.inviter_id,
    maxUses: row.max_uses,
    uses: row.uses,
    expiresAt: row.expires_at === null ? null : toMillis(row.expires_at),
    createdAt: toMillis(row.created_at),
  };
}

function banToRecord(row: Selectable<BansTable>): BanRecord {
  return {
    guildId: row.guild_id,
    userId: row.user_id,
    moderatorId: row.moderator_id,
    reason: row.reason,
    createdAt: toMillis(row.created_at),
  };
}

/** The defined keys of `patch` renamed to columns; undefined means "leave as is", null is a value. */
function columns<R, K extends keyof R & string, T>(patch: Partial<Pick<R, K>>, map: { [P in K]: (v: R[P]) => unknown }): Updateable<T> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(map) as K[]) {
    const value = patch[key];
    if (value !== undefined) Object.assign(out, { [columnName(key)]: map[key](value as R[typeof key]) });
  }
  return out as Updateable<T>;
}

/** camelCase → snake_case. */
function columnName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

const same = <V>(v: V) => v;

export class KyselyGuildStore implements GuildStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Guild (with a null system channel), @everyone role, channels, the system channel, the owner's
   * membership and roles, in one transaction.
   */
  async create(guild: GuildRecord, everyone: RoleRecord, channels: ChannelRecord[], owner: MemberRecord): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('guilds')
          .values({
            id: guild.id,
            name: guild.name,
            owner_id: guild.ownerId,
            description: guild.description,
            icon_url: guild.iconUrl,
            system_channel_id: null,
            created_at: toDate(guild.createdAt),
          })
          .execute();
        await trx.insertInto('roles').values(roleToRow(everyone)).execute();
        // One statement: FKs are checked at its end, so a channel may name a parent of the same batch.
        if (channels.length > 0) await trx.insertInto('channels').values(channels.map(channelToRow)).execute();
        if (guild.systemChannelId !== null) {
          await trx.updateTable('guilds').set({ system_channel_id: guild.systemChannelId }).where('id', '=', guild.id).execute();
        }
        await this.insertMember(trx, owner);
      });
    } catch (err) {
      throw toStorageError(err, CONFLICTS);
    }
  }

  /** Channels by (position, id); roles by (position, id); members by (joined_at, user_id) with role ids ascending; overwrites by (channel, target). */
  async load(guildId: string): Promise<GuildSnapshot | null> {
    try {
      // One read-only transaction so the reads see the same snapshot.
      return await this.db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(async (trx) => {
        const guild = await trx.selectFrom('guilds').selectAll().where('id', '=', guildId).executeTakeFirst();
        if (!guild) return null;
        const channels = await trx
          .selectFrom('channels')
          .selectAll()
          .where('guild_id', '=', guildId)
          .orderBy('position')
          .orderBy('id')
          .execute();
        const roles = await trx
          .selectFrom('roles')
          .selectAll()
          .where('guild_id', '=', guildId)
          .orderBy('position')
          .orderBy('id')
          .execute();
        const overwrites = await trx
          .selectFrom('channel_overwrites as o')
          .innerJoin('channels as c', 'c.id', 'o.channel_id')
          .selectAll('o')
          .where('c.guild_id', '=', guildId)
          .orderBy('o.channel_id')
          .orderBy('o.target_id')
          .execute();
        const members = await trx
          .selectFrom('members')
          .selectAll()
          .where('guild_id', '=', guildId)
          .orderBy('joined_at')
          .orderBy('user_id')
          .execute();
        const memberRoles = await trx
          .selectFrom('member_roles')
          .select(['user_id', 'role_id'])
          .where('guild_id', '=', guildId)
          .orderBy('user_id')
          .orderBy('role_id')
          .execute();
        const rolesOf = new Map<string, string[]>();
        for (const mr of memberRoles) {
          const list = rolesOf.get(mr.user_id);
          if (list) list.push(mr.role_id);
          else rolesOf.set(mr.user_id, [mr.role_id]);
        }
        return {
          guild: guildToRecord(guild),
          channels: channels.map(channelToRecord),
          members: members.map((m) => memberToRecord(m, rolesOf.get(m.user_id) ?? [])),
          roles: roles.map(roleToRecord),
          overwrites: overwrites.map(overwriteToRecord),
        };
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async updateGuild(
    guildId: string,
    patch: Partial<Pick<GuildRecord, 'name' | 'description' | 'iconUrl' | 'ownerId' | 'systemChannelId'>>,
  ): Promise<void> {
    const set = columns<GuildRecord, 'name' | 'description' | 'iconUrl' | 'ownerId' | 'systemChannelId', GuildsTable>(patch, {
      name: same, description: same, iconUrl: same, ownerId: same, systemChannelId: same,
    });
    if (Object.keys(set).length === 0) return;
    try {
      await this.db.updateTable('guilds').set(set).where('id', '=', guildId).execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /**
   * In one transaction: the guild's messages (by guild_id, which the messages table has no index
   * for: a sequential scan) and its audit log, then the guild, which cascades to channels, roles,
   * overwrites, members, member roles, invites and bans.
   */
  async deleteGuild(guildId: string): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        // Through the (channel_id, id) index: messages has no guild_id index, to keep inserts lean.
        // Messages of channels deleted earlier went with their channel (deleteChannel).
        const channelIds = trx.selectFrom('channels').select('id').where('guild_id', '=', guildId);
        await trx.deleteFrom('messages').where('channel_id', 'in', channelIds).execute();
        await trx.deleteFrom('audit_log').where('guild_id', '=', guildId).execute();
        await trx.deleteFrom('guilds').where('id', '=', guildId).execute();
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async createChannel(channel: ChannelRecord): Promise<void> {
    try {
      await this.db.insertInto('channels').values(channelToRow(channel)).execute();
    } catch (err) {
      throw toStorageError(err, CONFLICTS);
    }
  }

  async updateChannel(channelId: string, patch: Partial<Pick<ChannelRecord, 'name' | 'topic' | 'parentId' | 'position'>>): Promise<void> {
    const set = columns<ChannelRecord, 'name' | 'topic' | 'parentId' | 'position', ChannelsTable>(patch, {
      name: same, topic: same, parentId: same, position: same,
    });
    if (Object.keys(set).length === 0) return;
    try {
      await this.db.updateTable('channels').set(set).where('id', '=', channelId).execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Items naming a channel of another guild are ignored. */
  async updateChannelPositions(
    guildId: string,
    items: readonly { id: string; position: number; parentId: string | null }[],
  ): Promise<void> {
    if (items.length === 0) return;
    try {
      await this.db.transaction().execute(async (trx) => {
        for (const item of items) {
          await trx
            .updateTable('channels')
            .set({ position: item.position, parent_id: item.parentId })
            .where('id', '=', item.id)
            .where('guild_id', '=', guildId)
            .execute();
        }
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /**
   * One DELETE; the foreign keys do the rest: overwrites and invites of the channel cascade,
   * children's parent_id and the guild's system_channel_id become null. Messages stay.
   */
  async deleteChannel(channelId: string): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('messages').where('channel_id', '=', channelId).execute();
        await trx.deleteFrom('channels').where('id', '=', channelId).execute();
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async setOverwrite(overwrite: OverwriteRecord): Promise<void> {
    try {
      await this.db
        .insertInto('channel_overwrites')
        .values({
          channel_id: overwrite.channelId,
          target_id: overwrite.targetId,
          target_type: overwrite.targetType,
          allow: overwrite.allow,
          deny: overwrite.deny,
        })
        .onConflict((oc) =>
          oc.columns(['channel_id', 'target_id']).doUpdateSet((eb) => ({
            target_type: eb.ref('excluded.target_type'),
            allow: eb.ref('excluded.allow'),
            deny: eb.ref('excluded.deny'),
          })),
        )
        .execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async deleteOverwrite(channelId: string, targetId: string): Promise<boolean> {
    try {
      const result = await this.db
        .deleteFrom('channel_overwrites')
        .where('channel_id', '=', channelId)
        .where('target_id', '=', targetId)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Throws ConflictError('role') when the id is taken. */
  async createRole(role: RoleRecord): Promise<void> {
    try {
      await this.db.insertInto('roles').values(roleToRow(role)).execute();
    } catch (err) {
      throw toStorageError(err, CONFLICTS);
    }
  }

  async updateRole(
    roleId: string,
    patch: Partial<Pick<RoleRecord, 'name' | 'color' | 'permissions' | 'position' | 'mentionable' | 'hoist'>>,
  ): Promise<void> {
    const set = columns<RoleRecord, 'name' | 'color' | 'permissions' | 'position' | 'mentionable' | 'hoist', RolesTable>(patch, {
      name: same, color: same, permissions: same, position: same, mentionable: same, hoist: same,
    });
    if (Object.keys(set).length === 0) return;
    try {
      await this.db.updateTable('roles').set(set).where('id', '=', roleId).execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Role overwrites targeting it are deleted explicitly; member assignments cascade. */
  async deleteRole(roleId: string): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        const role = await trx.selectFrom('roles').select('guild_id').where('id', '=', roleId).executeTakeFirst();
        if (!role) return;
        await trx
          .deleteFrom('channel_overwrites')
          .where('target_id', '=', roleId)
          .where('target_type', '=', 0)
          .where('channel_id', 'in', (eb) => eb.selectFrom('channels').select('id').where('guild_id', '=', role.guild_id))
          .execute();
        await trx.deleteFrom('roles').where('id', '=', roleId).execute();
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Items naming a role of another guild are ignored. */
  async updateRolePositions(guildId: string, items: readonly { id: string; position: number }[]): Promise<void> {
    if (items.length === 0) return;
    try {
      await this.db.transaction().execute(async (trx) => {
        for (const item of items) {
          await trx
            .updateTable('roles')
            .set({ position: item.position })
            .where('id', '=', item.id)
            .where('guild_id', '=', guildId)
            .execute();
        }
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /**
   * Idempotent. The user must be a member and the role must belong to the guild (foreign keys:
   * otherwise the driver's foreign-key violation, SQLSTATE 23503, is thrown).
   */
  async addMemberRole(guildId: string, userId: string, roleId: string): Promise<void> {
    try {
      await this.db
        .insertInto('member_roles')
        .values({ guild_id: guildId, user_id: userId, role_id: roleId })
        .onConflict((oc) => oc.columns(['guild_id', 'user_id', 'role_id']).doNothing())
        .execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async removeMemberRole(guildId: string, userId: string, roleId: string): Promise<boolean> {
    try {
      const result = await this.db
        .deleteFrom('member_roles')
        .where('guild_id', '=', guildId)
        .where('user_id', '=', userId)
        .where('role_id', '=', roleId)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async updateMember(guildId: string, userId: string, patch: Partial<Pick<MemberRecord, 'nickname' | 'timeoutUntil'>>): Promise<void> {
    const set = columns<MemberRecord, 'nickname' | 'timeoutUntil', MembersTable>(patch, {
      nickname: same,
      timeoutUntil: (v) => (v === null ? null : toDate(v)),
    });
    if (Object.keys(set).length === 0) return;
    try {
      await this.db.updateTable('members').set(set).where('guild_id', '=', guildId).where('user_id', '=', userId).execute();
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Role assignments cascade. */
  async removeMember(guildId: string, userId: string): Promise<boolean> {
    try {
      const result = await this.db.deleteFrom('members').where('guild_id', '=', guildId).where('user_id', '=', userId).executeTakeFirst();
      return result.numDeletedRows > 0n;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async ban(ban: BanRecord): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('bans')
          .values({
            guild_id: ban.guildId,
            user_id: ban.userId,
            moderator_id: ban.moderatorId,
            reason: ban.reason,
            created_at: toDate(ban.createdAt),
          })
          .onConflict((oc) =>
            oc.columns(['guild_id', 'user_id']).doUpdateSet((eb) => ({
              moderator_id: eb.ref('excluded.moderator_id'),
              reason: eb.ref('excluded.reason'),
              created_at: eb.ref('excluded.created_at'),
            })),
          )
          .execute();
        await trx.deleteFrom('members').where('guild_id', '=', ban.guildId).where('user_id', '=', ban.userId).execute();
      });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async unban(guildId: string, userId: string): Promise<boolean> {
    try {
      const result = await this.db.deleteFrom('bans').where('guild_id', '=', guildId).where('user_id', '=', userId).executeTakeFirst();
      return result.numDeletedRows > 0n;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async findBan(guildId: string, userId: string): Promise<BanRecord | null> {
    try {
      const row = await this.db
        .selectFrom('bans')
        .selectAll()
        .where('guild_id', '=', guildId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return row ? banToRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Newest first (created_at, then user id, descending). */
  async listBans(guildId: string): Promise<BanRecord[]> {
    try {
      const rows = await this.db
        .selectFrom('bans')
        .selectAll()
        .where('guild_id', '=', guildId)
        .orderBy('created_at', 'desc')
        .orderBy('user_id', 'desc')
        .execute();
      return rows.map(banToRecord);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /**
   * Adds a member with its nickname, timeout and roleIds. With `inviteCode`, in the same
   * transaction increments the invite's uses, failing with ConflictError('invite') if the invite
   * is missing, of another guild, exhausted or expired at `member.joinedAt`.
   */
  async addMember(member: MemberRecord, inviteCode?: string): Promise<void> {
    const joinedAt = toDate(member.joinedAt);
    try {
      await this.db.transaction().execute(async (trx) => {
        if (inviteCode !== undefined) {
          // Conditional increment: the row lock serializes concurrent joins on the same invite.
          const used = await trx
            .updateTable('invites')
            .set((eb) => ({ uses: eb('uses', '+', 1) }))
            .where('code', '=', inviteCode)
            .where('guild_id', '=', member.guildId)
            .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
            .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', joinedAt)]))
            .returning('code')
            .executeTakeFirst();
          if (!used) throw new ConflictError('invite');
        }
        await this.insertMember(trx, member);
      });
    } catch (err) {
      throw toStorageError(err, CONFLICTS);
    }
  }

  async listGuildIdsOfUser(userId: string): Promise<string[]> {
    try {
      const rows = await this.db
        .selectFrom('members')
        .select('guild_id')
        .where('user_id', '=', userId)
        .orderBy('joined_at')
        .orderBy('guild_id')
        .execute();
      return rows.map((r) => r.guild_id);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async createInvite(invite: InviteRecord): Promise<void> {
    try {
      await this.db
        .insertInto('invites')
        .values({
          code: invite.code,
          guild_id: invite.guildId,
          channel_id: invite.channelId,
          inviter_id: invite.inviterId,
          max_uses: invite.maxUses,
          uses: invite.uses,
          expires_at: invite.expiresAt === null ? null : toDate(invite.expiresAt),
          created_at: toDate(invite.createdAt),
        })
        .execute();
    } catch (err) {
      throw toStorageError(err, CONFLICTS);
    }
  }

  async findInvite(code: string): Promise<InviteRecord | null> {
    try {
      const row = await this.db.selectFrom('invites').selectAll().where('code', '=', code).executeTakeFirst();
      return row ? inviteToRecord(row) : null;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Newest first (created_at, then code, descending); expired and exhausted invites included. */
  async listInvites(guildId: string): Promise<InviteRecord[]> {
    try {
      const rows = await this.db
        .selectFrom('invites')
        .selectAll()
        .where('guild_id', '=', guildId)
        .orderBy('created_at', 'desc')
        .orderBy('code', 'desc')
        .execute();
      return rows.map(inviteToRecord);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async deleteInvite(code: string): Promise<boolean> {
    try {
      const result = await this.db.deleteFrom('invites').where('code', '=', code).executeTakeFirst();
      return result.numDeletedRows > 0n;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** The members row and its member_roles rows. */
  private async insertMember(trx: Transaction<DB>, member: MemberRecord): Promise<void> {
    await trx
      .insertInto('members')
      .values({
        guild_id: member.guildId,
        user_id: member.userId,
        joined_at: toDate(member.joinedAt),
        nickname: member.nickname,
        timeout_until: member.timeoutUntil === null ? null : toDate(member.timeoutUntil),
      })
      .execute();
    const roleIds = [...new Set(member.roleIds)];
    if (roleIds.length > 0) {
      await trx
        .insertInto('member_roles')
        .values(roleIds.map((role_id) => ({ guild_id: member.guildId, user_id: member.userId, role_id })))
        .execute();
    }
  }
}
