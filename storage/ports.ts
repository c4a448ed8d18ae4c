/**
 * Storage ports used by the engine. One Kysely implementation serves both dialects (Postgres via
 * pg, embedded PGlite); the dialect is chosen in database.ts.
 */
import type {
  AuditEntryRecord, BanRecord, ChannelRecord, DmRecord, GuildRecord, GuildSnapshot, InviteRecord, MemberRecord, MessageRecord,
  MuteRecord, OverwriteRecord, ProfileRecord, ReadyRecord, RelationshipRecord, ReactionRecord, ReadStateRecord, RoleRecord, UserRecord,
} from './records.ts';

export interface UserStore {
  /** Inserts a user; throws ConflictError('email' | 'nickname') when either is taken (case-insensitively). */
  create(user: Omit<UserRecord, 'createdAt'> & { createdAt?: number }): Promise<UserRecord>;
  /** Looks up by email, case-insensitively. */
  findByEmail(email: string): Promise<UserRecord | null>;
  findById(id: string): Promise<UserRecord | null>;
  /** Users for the ids that exist, in no particular order. */
  findManyByIds(ids: readonly string[]): Promise<UserRecord[]>;
}

export interface GuildStore {
  /** Creates the guild, its @everyone role, its initial channels and the owner's membership in one transaction. */
  create(guild: GuildRecord, everyone: RoleRecord, channels: ChannelRecord[], owner: MemberRecord): Promise<void>;
  /** The guild with all channels (by position), members (with role ids), roles and overwrites, or null. */
  load(guildId: string): Promise<GuildSnapshot | null>;
  updateGuild(guildId: string, patch: Partial<Pick<GuildRecord, 'name' | 'description' | 'iconUrl' | 'ownerId' | 'systemChannelId'>>): Promise<void>;
  /** Deletes the guild and everything that belongs to it, its messages and audit log included. */
  deleteGuild(guildId: string): Promise<void>;
  updateChannel(channelId: string, patch: Partial<Pick<ChannelRecord, 'name' | 'topic' | 'parentId' | 'position'>>): Promise<void>;
  /** Sets position and parent of several channels in one transaction. */
  updateChannelPositions(guildId: string, items: readonly { id: string; position: number; parentId: string | null }[]): Promise<void>;
  /** Deletes a channel with its messages, overwrites and invites; its children lose their parent. */
  deleteChannel(channelId: string): Promise<void>;
  /** Inserts or replaces the overwrite for (channelId, targetId). */
  setOverwrite(overwrite: OverwriteRecord): Promise<void>;
  deleteOverwrite(channelId: string, targetId: string): Promise<boolean>;
  createRole(role: RoleRecord): Promise<void>;
  updateRole(roleId: string, patch: Partial<Pick<RoleRecord, 'name' | 'color' | 'permissions' | 'position' | 'mentionable' | 'hoist'>>): Promise<void>;
  /** Deletes the role, its member assignments and the overwrites that target it. */
  deleteRole(roleId: string): Promise<void>;
  updateRolePositions(guildId: string, items: readonly { id: string; position: number }[]): Promise<void>;
  addMemberRole(guildId: string, userId: string, roleId: string): Promise<void>;
  removeMemberRole(guildId: string, userId: string, roleId: string): Promise<boolean>;
  updateMember(guildId: string, userId: string, patch: Partial<Pick<MemberRecord, 'nickname' | 'timeoutUntil'>>): Promise<void>;
  /** Removes the membership and its role assignments. */
  removeMember(guildId: string, userId: string): Promise<boolean>;
  /** In one transaction: records (or replaces) the ban and removes the membership if any. */
  ban(ban: BanRecord): Promise<void>;
  unban(guildId: string, userId: string): Promise<boolean>;
  findBan(guildId: string, userId: string): Promise<BanRecord | null>;
  /** Bans newest first. */
  listBans(guildId: string): Promise<BanRecord[]>;
  /** Invites of the guild, newest first. */
  listInvites(guildId: string): Promise<InviteRecord[]>;
  deleteInvite(code: string): Promise<boolean>;
  createChannel(channel: ChannelRecord): Promise<void>;
  /**
   * Adds a member. With `inviteCode`, in the same transaction increments the invite's uses, failing
   * with ConflictError('invite') if the invite is exhausted or expired at `member.joinedAt`; the
   * membership is not written then. Throws ConflictError('member') if already a member.
   */
  addMember(member: MemberRecord, inviteCode?: string): Promise<void>;
  /** Ids of the guilds the user is a member of, oldest membership first. */
  listGuildIdsOfUser(userId: string): Promise<string[]>;
  createInvite(invite: InviteRecord): Promise<void>;
  findInvite(code: string): Promise<InviteRecord | null>;
}

export interface HistoryQuery {
  /** Only messages with id < before. */
  before: string | null;
  /** Only messages with id > after (the `limit` oldest of them). */
  after?: string | null;
  /** Messages around this id: up to limit/2 older, the message itself, the rest newer. */
  around?: string | null;
  /** 1..100 */
  limit: number;
}

export interface MessageStore {
  /**
   * Inserts all rows in one transaction (one multi-row INSERT); resolves after COMMIT with, per
   * row, whether it was written: a row whose (channel, author, nonce) already exists is skipped.
   */
  insertMany(rows: readonly MessageRecord[]): Promise<boolean[]>;
  findById(channelId: string, messageId: string): Promise<MessageRecord | null>;
  /** Messages of the channel with these ids (missing ones left out). */
  findMany(channelId: string, ids: readonly string[]): Promise<MessageRecord[]>;
  findByNonce(channelId: string, authorId: string, nonce: string): Promise<MessageRecord | null>;
  /** Applies the patch; false if no such message. */
  update(channelId: string, messageId: string, patch: Partial<Pick<MessageRecord, 'content' | 'editedAt' | 'mentions' | 'pinnedAt'>>): Promise<boolean>;
  delete(channelId: string, messageId: string): Promise<boolean>;
  /** Newest message id per channel, for the channels that have messages. */
  lastMessageIds(channelIds: readonly string[]): Promise<Map<string, string>>;
  /** Pinned messages, most recently pinned first. */
  pinned(channelId: string): Promise<MessageRecord[]>;
  /** False if the user already reacted with that emoji. */
  addReaction(reaction: ReactionRecord): Promise<boolean>;
  removeReaction(messageId: string, userId: string, emoji: string): Promise<boolean>;
  /** Every reaction on these messages. */
  reactions(messageIds: readonly string[]): Promise<ReactionRecord[]>;
  /** Messages of one channel (or DM), newest first. */
  history(channelId: string, query: HistoryQuery): Promise<MessageRecord[]>;
  /**
   * The page history() returns, with every reaction on its messages (oldest reaction first), read
   * together: one round trip for a `before`/latest page.
   */
  historyWithReactions(channelId: string, query: HistoryQuery): Promise<{ messages: MessageRecord[]; reactions: ReactionRecord[] }>;
}

export interface DmStore {
  /**
   * Finds the 1:1 DM between two users or creates it with `newId` (atomically: concurrent calls for
   * the same pair yield the same DM).
   */
  findOrCreatePair(a: string, b: string, newId: string, now: number): Promise<{ dm: DmRecord; created: boolean }>;
  load(id: string): Promise<DmRecord | null>;
  /** The user's DMs, most recent activity first. */
  listForUser(userId: string): Promise<DmRecord[]>;
  /** Records the newest message id of a DM (for ordering conversation lists). */
  touch(id: string, lastMessageId: string): Promise<void>;
  /** Creates a group DM with its participants (in the given order) in one transaction. */
  createGroup(dm: DmRecord): Promise<void>;
  /** Adds a participant; false if already one. */
  addParticipant(dmId: string, userId: string, now: number): Promise<boolean>;
  /** Removes a participant; false if not one. */
  removeParticipant(dmId: string, userId: string): Promise<boolean>;
  updateGroup(dmId: string, patch: Partial<Pick<DmRecord, 'name' | 'ownerId'>>): Promise<void>;
  /** The 1:1 DM of two users, if it exists. */
  findPair(a: string, b: string): Promise<DmRecord | null>;
  /**
   * A page of the user's DMs by last activity, newest first: activity is the newest message id
   * (read from messages, so deleted messages do not count), else the DM's own id. `before`
   * returns only DMs whose activity id is lower. Each DM comes with its newest message id.
   */
  listPage(userId: string, query: { before: string | null; limit: number }): Promise<{ dm: DmRecord; activityId: string; lastMessageId: string | null }[]>;
}

/** Profile fields a user may change; absent = unchanged, null = cleared. */
export interface ProfilePatch {
  nickname?: string;
  displayName?: string | null;
  bio?: string | null;
  avatarUrl?: string | null;
}

export interface ProfileStore {
  get(userId: string): Promise<ProfileRecord | null>;
  /** Profiles for the ids that exist, in no particular order. */
  getMany(userIds: readonly string[]): Promise<ProfileRecord[]>;
  /** Case-insensitive exact match. */
  findByNickname(nickname: string): Promise<ProfileRecord | null>;
  /** Applies the patch; null if the user does not exist; ConflictError('nickname') if it is taken. */
  update(userId: string, patch: ProfilePatch): Promise<ProfileRecord | null>;
  /** Users whose nickname starts with `prefix` case-insensitively, by lowercased nickname (byte order), at most `limit`. */
  searchByNicknamePrefix(prefix: string, limit: number): Promise<ProfileRecord[]>;
}

/** Both sides of a pair: a's relationship type toward b, and b's toward a (null = none). */
export interface PairState {
  ab: number | null;
  ba: number | null;
}

/** What a relationship transition decides from: the pair and each side's count of friends and pending requests. */
export interface PairSnapshot extends PairState {
  countA: number;
  countB: number;
}

export interface RelationshipStore {
  /** All of the user's relationships (their side), oldest first. */
  list(userId: string): Promise<RelationshipRecord[]>;
  /** `userId`'s relationship toward `otherId`. */
  get(userId: string, otherId: string): Promise<RelationshipRecord | null>;
  pair(a: string, b: string): Promise<PairState>;
  /**
   * In one transaction, serialised per pair: reads the pair, lets `decide` compute the next state
   * (it may throw to change nothing) and writes it. Rows whose type changes get `now` as their
   * time. Resolves both sides as they are afterwards.
   */
  transition(a: string, b: string, now: number, decide: (current: PairSnapshot) => PairState): Promise<{ ab: RelationshipRecord | null; ba: RelationshipRecord | null }>;
  friendIds(userId: string): Promise<string[]>;
  /** Of the user's friends, those who are not members of any of `guildIds`. */
  friendsOutside(userId: string, guildIds: readonly string[]): Promise<string[]>;
  /** Up to `perGuild` member ids of each guild (lowest user ids first), deduplicated. */
  guildMemberIds(guildIds: readonly string[], perGuild: number): Promise<string[]>;
}

export interface AuditQuery {
  userId: string | null;
  action: number | null;
  /** Only entries with id < before. */
  before: string | null;
  /** Only entries with id > after. */
  after: string | null;
  /** 1..100 */
  limit: number;
}

export interface AuditLogStore {
  /** Inserts all entries in one statement. */
  insertMany(entries: readonly AuditEntryRecord[]): Promise<void>;
  /** Entries of one guild matching the filters, newest first. */
  query(guildId: string, query: AuditQuery): Promise<AuditEntryRecord[]>;
}

export interface ReadStateStore {
  /** Moves the read marker forward (never back) and clears the mention count. */
  ack(userId: string, channelId: string, lastReadId: string): Promise<ReadStateRecord>;
  /** Adds one mention for each user in `channelId`. */
  addMentions(channelId: string, userIds: readonly string[]): Promise<void>;
  list(userId: string): Promise<ReadStateRecord[]>;
}

export interface MuteStore {
  set(mute: MuteRecord): Promise<void>;
  delete(userId: string, targetId: string): Promise<boolean>;
  list(userId: string): Promise<MuteRecord[]>;
  /** Which of `userIds` have any of `targetIds` muted at `now`. */
  mutedAmong(userIds: readonly string[], targetIds: readonly string[], now: number): Promise<Set<string>>;
}

/** What READY needs from the database, read in one round trip (see engine/gateway/ready.ts). */
export interface ReadyStore {
  /**
   * For each of `userIds` that exists (keyed by id; unknown ids are absent): the user's profile,
   * email, guild ids, DMs, read states, mutes, relationships, the first `membersPerGuild` members
   * (by user id) of each of the user's guilds, and the profiles of the participants of the user's
   * `dmLimit` most recent DMs — each as ReadyRecord documents it. One statement per up to 500
   * users, so each user's record is one consistent snapshot; many concurrent IDENTIFYs share it.
   */
  loadMany(userIds: readonly string[], opts: { membersPerGuild: number; dmLimit: number }): Promise<Map<string, ReadyRecord>>;
}

export interface Stores {
  profiles: ProfileStore;
  relationships: RelationshipStore;
  readStates: ReadStateStore;
  mutes: MuteStore;
  audit: AuditLogStore;
  users: UserStore;
  guilds: GuildStore;
  messages: MessageStore;
  dms: DmStore;
  ready: ReadyStore;
}
