/**
 * Storage records: what the stores read and write. Ids are snowflake decimal strings, times are
 * epoch milliseconds, on both dialects. These are persistence shapes, not the engine's domain model.
 */

export interface UserRecord {
  id: string;
  email: string;
  nickname: string;
  passwordHash: string;
  createdAt: number;
}

export interface GuildRecord {
  id: string;
  name: string;
  ownerId: string;
  description: string | null;
  iconUrl: string | null;
  /** Channel that receives system messages (joins, leaves); null = none. */
  systemChannelId: string | null;
  createdAt: number;
}

export interface RoleRecord {
  /** The @everyone role's id equals the guild id. */
  id: string;
  guildId: string;
  name: string;
  /** 0xRRGGBB, 0 = no colour. */
  color: number;
  /** Permission bitfield as a decimal string (64-bit). */
  permissions: string;
  /** Higher is above; @everyone is always 0. */
  position: number;
  mentionable: boolean;
  hoist: boolean;
  createdAt: number;
}

/** A channel permission overwrite; targetType 0 = role, 1 = member. allow/deny are decimal bitfields. */
export interface OverwriteRecord {
  channelId: string;
  targetId: string;
  targetType: 0 | 1;
  allow: string;
  deny: string;
}

export interface BanRecord {
  guildId: string;
  userId: string;
  moderatorId: string;
  reason: string | null;
  createdAt: number;
}

export interface AuditEntryRecord {
  id: string;
  guildId: string;
  /** Who did it. */
  actorId: string;
  /** AuditAction number (engine/guild/audit-actions.ts). */
  action: number;
  targetId: string | null;
  /** Before/after values of what changed: [{ key, old?, new? }]. */
  changes: { key: string; old?: unknown; new?: unknown }[];
  reason: string | null;
  createdAt: number;
}

export interface ChannelRecord {
  id: string;
  guildId: string;
  /** ChannelType: 0 text, 4 category. */
  type: number;
  name: string;
  topic: string | null;
  parentId: string | null;
  position: number;
  createdAt: number;
}

export interface MemberRecord {
  guildId: string;
  userId: string;
  joinedAt: number;
  /** Guild-specific nickname. */
  nickname: string | null;
  /** Timed out (may only view and read) until this time; null = not timed out. */
  timeoutUntil: number | null;
  /** Role ids besides @everyone. */
  roleIds: string[];
}

export interface InviteRecord {
  code: string;
  guildId: string;
  channelId: string | null;
  inviterId: string;
  maxUses: number | null;
  uses: number;
  expiresAt: number | null;
  createdAt: number;
}

export interface MessageMentions {
  users: string[];
  roles: string[];
  /** @everyone or @here that the author was allowed to use. */
  everyone: boolean;
}

export interface MessageRecord {
  id: string;
  /** MessageType: 0 default; system messages use other values (protocol/opcodes.ts). */
  type: number;
  mentions: MessageMentions | null;
  /** Guild channel id, or the DM id for direct messages. */
  channelId: string;
  guildId: string | null;
  authorId: string;
  content: string;
  nonce: string | null;
  createdAt: number;
  /** Last edit time; null if never edited. */
  editedAt: number | null;
  /** The message this one replies to (same channel). */
  replyToId: string | null;
  pinnedAt: number | null;
}

export interface ReactionRecord {
  messageId: string;
  channelId: string;
  userId: string;
  emoji: string;
  createdAt: number;
}

export interface ReadStateRecord {
  userId: string;
  channelId: string;
  /** Newest message id the user has read ('0' = none). */
  lastReadId: string;
  /** Mentions of the user since lastReadId. */
  mentionCount: number;
}

/** targetType: 0 guild channel, 1 guild, 2 DM. until null = indefinitely. */
export interface MuteRecord {
  userId: string;
  targetId: string;
  targetType: 0 | 1 | 2;
  until: number | null;
}

export interface DmRecord {
  id: string;
  createdAt: number;
  /** Ascending by id for direct DMs; in joining order for group DMs. */
  participantIds: string[];
  lastMessageId: string | null;
  /** DmType: 1 direct, 3 group. */
  type: number;
  /** Group DMs only (null otherwise). */
  name: string | null;
  ownerId: string | null;
}

/** A user's public profile (users table without email and password). */
export interface ProfileRecord {
  id: string;
  nickname: string;
  displayName: string | null;
  bio: string | null;
  avatarUrl: string | null;
  createdAt: number;
}

/** One side of a relationship: `userId`'s view of `otherId`. type: 1 friend, 2 blocked, 3 incoming, 4 outgoing. */
export interface RelationshipRecord {
  userId: string;
  otherId: string;
  type: number;
  createdAt: number;
}

/**
 * Everything READY reads from the database about one user (ReadyStore.loadMany). Each part equals
 * what the dedicated store method returns for the same user at the same moment.
 */
export interface ReadyRecord {
  /** ProfileStore.get(userId). */
  profile: ProfileRecord;
  /** The user's email address (for the user's own profile only). */
  email: string;
  /** GuildStore.listGuildIdsOfUser(userId): oldest membership first. */
  guildIds: string[];
  /** DmStore.listForUser(userId): most recent activity first, with participants. */
  dms: DmRecord[];
  /** ReadStateStore.list(userId), in no particular order. */
  readStates: ReadStateRecord[];
  /** MuteStore.list(userId), in no particular order. */
  mutes: MuteRecord[];
  /**
   * RelationshipStore.list(userId) (oldest first), each with the other user's profile; a
   * relationship whose other user no longer exists is left out.
   */
  relationships: { record: RelationshipRecord; profile: ProfileRecord }[];
  /** RelationshipStore.guildMemberIds(guildIds, membersPerGuild): distinct, guild by guild. */
  guildMemberIds: string[];
  /** Profiles (ProfileStore.getMany, in no particular order) of the participants of the first `dmLimit` DMs of `dms`. */
  dmProfiles: ProfileRecord[];
}

export interface GuildSnapshot {
  guild: GuildRecord;
  channels: ChannelRecord[];
  members: MemberRecord[];
  roles: RoleRecord[];
  overwrites: OverwriteRecord[];
}

/** A unique constraint refused the write; `field` names which ('email', 'nickname', …). */
export class ConflictError extends Error {
  constructor(readonly field: string) {
    super(`${field} already exists`);
    this.name = 'ConflictError';
  }
}

/** The database could not be reached or the transaction did not commit; the caller may retry. */
export class StorageUnavailableError extends Error {
  constructor(cause: unknown) {
    super('storage unavailable', { cause });
    this.name = 'StorageUnavailableError';
  }
}
