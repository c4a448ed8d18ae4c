/** Wire shapes of protocol v1: what a client sends and receives, independent of storage. */
import type { ChannelTypeValue, DmTypeValue, EventType, Method, PresenceStatus, RelationshipTypeValue } from './opcodes.ts';
import type { Snowflake } from './ids.ts';

export interface User {
  id: Snowflake;
  nickname: string;
}

export interface SelfUser extends User {
  email: string;
}

/** A user as shown in lists (relationships, DM recipients, search results, presences). */
export interface UserSummary extends User {
  displayName: string | null;
  avatarUrl: string | null;
}

/** Another user's public profile (never an email address). */
export interface Profile extends UserSummary {
  bio: string | null;
  createdAt: number;
}

/** The caller's own profile. */
export interface SelfProfile extends Profile {
  email: string;
}

/** One relationship of the receiving user with `user`. */
export interface Relationship {
  user: UserSummary;
  /** RelationshipType: 1 friend, 2 blocked (by me), 3 incoming request, 4 outgoing request. */
  type: RelationshipTypeValue;
  /** When the relationship got this type (epoch ms). */
  since: number;
}

export interface Presence {
  userId: Snowflake;
  /** Others never see `invisible`: an invisible user is `offline` to them. */
  status: PresenceStatus;
  /** Shown only while the user is not offline (to the viewer). */
  customStatus: string | null;
  /** The user's public summary; in PRESENCE_UPDATE so profile changes reach friends and guild members. */
  user?: UserSummary;
}

/** One entry of dm.list: a conversation with its newest message and the caller's read state. */
export interface Conversation {
  dm: Dm;
  lastMessage: Message | null;
  /** Newest message the caller has read ('0' = none). */
  lastReadId: Snowflake | '0';
  /** True when lastMessage is newer than lastReadId and not the caller's own. */
  unread: boolean;
  mentionCount: number;
}

/** A permission overwrite; allow/deny are 64-bit bitfields as decimal strings. */
export interface PermissionOverwrite {
  /** A role id (the guild id for @everyone) or a user id. */
  id: Snowflake;
  type: 'role' | 'member';
  allow: string;
  deny: string;
}

export interface Channel {
  id: Snowflake;
  guildId: Snowflake;
  type: ChannelTypeValue;
  name: string;
  topic: string | null;
  parentId: Snowflake | null;
  position: number;
  overwrites: PermissionOverwrite[];
  /** Newest message id (text channels), for unread state against ReadState.lastReadId. */
  lastMessageId: Snowflake | null;
}

export interface Role {
  /** The @everyone role's id is the guild id. */
  id: Snowflake;
  guildId: Snowflake;
  name: string;
  color: number;
  /** 64-bit bitfield as a decimal string. */
  permissions: string;
  position: number;
  mentionable: boolean;
  hoist: boolean;
}

export interface Member {
  guildId: Snowflake;
  user: User;
  joinedAt: number;
  nickname: string | null;
  /** Role ids besides @everyone. */
  roles: Snowflake[];
  timeoutUntil: number | null;
}

export interface Guild {
  id: Snowflake;
  name: string;
  description: string | null;
  iconUrl: string | null;
  ownerId: Snowflake;
  systemChannelId: Snowflake | null;
  createdAt: number;
  memberCount: number;
  /** Only the channels the receiving user can view. */
  channels: Channel[];
  roles: Role[];
  /** The receiving user's membership. */
  me: Member;
}

export interface Ban {
  guildId: Snowflake;
  user: User;
  reason: string | null;
  createdAt: number;
}

export interface AuditEntry {
  id: Snowflake;
  guildId: Snowflake;
  actorId: Snowflake;
  action: number;
  targetId: Snowflake | null;
  changes: { key: string; old?: unknown; new?: unknown }[];
  reason: string | null;
  createdAt: number;
}

export interface MessageMentions {
  users: Snowflake[];
  roles: Snowflake[];
  everyone: boolean;
}

export interface Invite {
  code: string;
  guildId: Snowflake;
  channelId: Snowflake | null;
  inviterId: Snowflake;
  maxUses: number | null;
  uses: number;
  expiresAt: number | null;
  createdAt: number;
}

export interface Message {
  id: Snowflake;
  /** MessageType; 0 for user messages. */
  type: number;
  /** Guild channel id, or the DM id for direct messages. */
  channelId: Snowflake;
  guildId: Snowflake | null;
  authorId: Snowflake;
  content: string;
  createdAt: number;
  /** The client's nonce from message.send, echoed so it can match its optimistic copy. */
  nonce: string | null;
  mentions: MessageMentions;
  editedAt: number | null;
  /** The message this one replies to, and a preview of it (null if it was deleted). */
  replyToId: Snowflake | null;
  referencedMessage: MessagePreview | null;
  pinned: boolean;
  /** Per emoji: how many reacted and whether the receiving user did (false in broadcasts). */
  reactions: ReactionCount[];
}

export interface MessagePreview {
  id: Snowflake;
  authorId: Snowflake;
  type: number;
  /** The first 200 characters. */
  content: string;
}

export interface ReactionCount {
  emoji: string;
  count: number;
  me: boolean;
}

export interface ReadState {
  /** Guild channel id or DM id. */
  channelId: Snowflake;
  /** Newest message read ('0' = none). */
  lastReadId: Snowflake | '0';
  mentionCount: number;
}

export interface Mute {
  targetId: Snowflake;
  type: 'channel' | 'guild' | 'dm';
  /** Epoch ms; null = until unmuted. */
  until: number | null;
}

export interface Dm {
  id: Snowflake;
  /** DmType: 1 direct (two users), 3 group (up to 10). */
  type: DmTypeValue;
  /** Participants, the receiving user included. */
  recipients: UserSummary[];
  createdAt: number;
  lastMessageId: Snowflake | null;
  /** Group DMs: the name (null = unnamed) and the owner; null for direct DMs. */
  name: string | null;
  ownerId: Snowflake | null;
}

/** Position of a stream: events carry (epoch, seq); seq grows by one per event within an epoch. */
export interface StreamPosition {
  epoch: number;
  seq: number;
}

export interface ReadyPayload {
  sessionId: string;
  user: SelfProfile;
  /** Every relationship of the user (friends, pending requests both ways, blocks). */
  relationships: Relationship[];
  /**
   * Current presence of friends and guild members who are not offline (see PROTOCOL.md for the
   * per-guild bound), and the user's own (with `invisible` as is).
   */
  presences: Presence[];
  guilds: Guild[];
  dms: Dm[];
  readStates: ReadState[];
  mutes: Mute[];
  /** Current position of every stream the session is subscribed to, keyed by stream name. */
  streams: Record<string, StreamPosition>;
}

export interface HelloPayload {
  v: number;
  heartbeatIntervalMs: number;
  maxFrameBytes: number;
}

/** A guild channel (guildId + channelId) or a DM (dmId). */
export type Place = { guildId: Snowflake; channelId: Snowflake; dmId?: null } | { dmId: Snowflake; guildId?: null; channelId?: null };

/** At most one of before / after / around; limit 1..100 (default 50). Pages are newest first. */
export interface HistoryCursor {
  before?: Snowflake | null;
  after?: Snowflake | null;
  around?: Snowflake | null;
  limit?: number;
}

/** Request payloads and results, keyed by method name. */
export interface Methods {
  [Method.GUILD_CREATE]: { payload: { name: string }; result: Guild };
  [Method.GUILD_UPDATE]: {
    payload: { guildId: Snowflake; name?: string; description?: string | null; iconUrl?: string | null; systemChannelId?: Snowflake | null; reason?: string | null };
    result: Guild;
  };
  [Method.GUILD_TRANSFER]: { payload: { guildId: Snowflake; userId: Snowflake }; result: Guild };
  [Method.GUILD_DELETE]: { payload: { guildId: Snowflake }; result: null };
  [Method.GUILD_LEAVE]: { payload: { guildId: Snowflake }; result: null };
  [Method.CHANNEL_CREATE]: {
    payload: { guildId: Snowflake; name: string; type?: ChannelTypeValue; topic?: string | null; parentId?: Snowflake | null; reason?: string | null };
    result: Channel;
  };
  [Method.CHANNEL_UPDATE]: {
    payload: { guildId: Snowflake; channelId: Snowflake; name?: string; topic?: string | null; parentId?: Snowflake | null; reason?: string | null };
    result: Channel;
  };
  [Method.CHANNEL_REORDER]: {
    payload: { guildId: Snowflake; positions: { id: Snowflake; position: number; parentId?: Snowflake | null }[] };
    result: Channel[];
  };
  [Method.CHANNEL_DELETE]: { payload: { guildId: Snowflake; channelId: Snowflake; reason?: string | null }; result: null };
  [Method.OVERWRITE_SET]: {
    payload: { guildId: Snowflake; channelId: Snowflake; targetId: Snowflake; type: 'role' | 'member'; allow?: string; deny?: string; reason?: string | null };
    result: Channel;
  };
  [Method.OVERWRITE_DELETE]: { payload: { guildId: Snowflake; channelId: Snowflake; targetId: Snowflake; reason?: string | null }; result: Channel };
  [Method.ROLE_CREATE]: {
    payload: { guildId: Snowflake; name?: string; color?: number; permissions?: string; mentionable?: boolean; hoist?: boolean; reason?: string | null };
    result: Role;
  };
  [Method.ROLE_UPDATE]: {
    payload: { guildId: Snowflake; roleId: Snowflake; name?: string; color?: number; permissions?: string; mentionable?: boolean; hoist?: boolean; reason?: string | null };
    result: Role;
  };
  [Method.ROLE_REORDER]: { payload: { guildId: Snowflake; positions: { id: Snowflake; position: number }[] }; result: Role[] };
  [Method.ROLE_DELETE]: { payload: { guildId: Snowflake; roleId: Snowflake; reason?: string | null }; result: null };
  [Method.MEMBER_LIST]: { payload: { guildId: Snowflake; after?: Snowflake | null; limit?: number }; result: Member[] };
  [Method.MEMBER_ROLE_ADD]: { payload: { guildId: Snowflake; userId: Snowflake; roleId: Snowflake; reason?: string | null }; result: Member };
  [Method.MEMBER_ROLE_REMOVE]: { payload: { guildId: Snowflake; userId: Snowflake; roleId: Snowflake; reason?: string | null }; result: Member };
  [Method.MEMBER_NICKNAME]: { payload: { guildId: Snowflake; userId: Snowflake; nickname: string | null; reason?: string | null }; result: Member };
  [Method.MEMBER_KICK]: { payload: { guildId: Snowflake; userId: Snowflake; reason?: string | null }; result: null };
  [Method.MEMBER_TIMEOUT]: { payload: { guildId: Snowflake; userId: Snowflake; until: number | null; reason?: string | null }; result: Member };
  [Method.BAN_CREATE]: { payload: { guildId: Snowflake; userId: Snowflake; reason?: string | null }; result: Ban };
  [Method.BAN_REMOVE]: { payload: { guildId: Snowflake; userId: Snowflake; reason?: string | null }; result: null };
  [Method.BAN_LIST]: { payload: { guildId: Snowflake }; result: Ban[] };
  [Method.INVITE_LIST]: { payload: { guildId: Snowflake }; result: Invite[] };
  [Method.INVITE_REVOKE]: { payload: { guildId: Snowflake; code: string; reason?: string | null }; result: null };
  [Method.AUDIT_LIST]: {
    payload: { guildId: Snowflake; userId?: Snowflake | null; action?: number | null; before?: Snowflake | null; after?: Snowflake | null; limit?: number };
    result: AuditEntry[];
  };
  [Method.MESSAGE_DELETE]: { payload: Place & { messageId: Snowflake; reason?: string | null }; result: null };
  [Method.MESSAGE_EDIT]: { payload: Place & { messageId: Snowflake; content: string }; result: Message };
  [Method.MESSAGE_PIN]: { payload: Place & { messageId: Snowflake; reason?: string | null }; result: Message };
  [Method.MESSAGE_UNPIN]: { payload: Place & { messageId: Snowflake; reason?: string | null }; result: Message };
  [Method.MESSAGE_PINS]: { payload: Place; result: Message[] };
  [Method.REACTION_ADD]: { payload: Place & { messageId: Snowflake; emoji: string }; result: null };
  [Method.REACTION_REMOVE]: { payload: Place & { messageId: Snowflake; emoji: string }; result: null };
  [Method.TYPING_START]: { payload: Place; result: null };
  [Method.MESSAGE_ACK]: { payload: Place & { messageId: Snowflake }; result: ReadState };
  [Method.MUTE_SET]: { payload: { targetId: Snowflake; type: Mute['type']; until?: number | null }; result: Mute };
  [Method.MUTE_DELETE]: { payload: { targetId: Snowflake }; result: null };
  [Method.INVITE_CREATE]: {
    payload: { guildId: Snowflake; channelId?: Snowflake | null; maxUses?: number | null; maxAgeSec?: number | null };
    result: Invite;
  };
  [Method.INVITE_JOIN]: { payload: { code: string }; result: Guild };
  [Method.MESSAGE_SEND]: {
    payload: { guildId: Snowflake; channelId: Snowflake; content: string; nonce?: string | null; replyTo?: Snowflake | null };
    result: Message;
  };
  [Method.MESSAGE_HISTORY]: {
    payload: { guildId: Snowflake; channelId: Snowflake } & HistoryCursor;
    result: Message[];
  };
  [Method.DM_OPEN]: { payload: { userId: Snowflake }; result: Dm };
  [Method.DM_SEND]: { payload: { dmId: Snowflake; content: string; nonce?: string | null; replyTo?: Snowflake | null }; result: Message };
  [Method.DM_HISTORY]: { payload: { dmId: Snowflake } & HistoryCursor; result: Message[] };
  [Method.DM_LIST]: { payload: { before?: Snowflake | null; limit?: number }; result: Conversation[] };
  [Method.DM_GROUP_CREATE]: { payload: { userIds: Snowflake[]; name?: string | null }; result: Dm };
  [Method.DM_GROUP_RENAME]: { payload: { dmId: Snowflake; name: string | null }; result: Dm };
  [Method.DM_GROUP_ADD]: { payload: { dmId: Snowflake; userId: Snowflake }; result: Dm };
  [Method.DM_GROUP_REMOVE]: { payload: { dmId: Snowflake; userId: Snowflake }; result: Dm };
  [Method.DM_GROUP_LEAVE]: { payload: { dmId: Snowflake }; result: null };
  [Method.PROFILE_GET]: { payload: Record<string, never>; result: SelfProfile };
  [Method.PROFILE_UPDATE]: {
    payload: { nickname?: string; displayName?: string | null; bio?: string | null; avatarUrl?: string | null };
    result: SelfProfile;
  };
  [Method.USER_GET]: { payload: { userId: Snowflake }; result: Profile };
  [Method.USER_SEARCH]: { payload: { prefix: string; limit?: number }; result: UserSummary[] };
  [Method.RELATIONSHIP_LIST]: { payload: Record<string, never>; result: Relationship[] };
  [Method.RELATIONSHIP_REQUEST]: { payload: { nickname?: string; userId?: Snowflake }; result: Relationship };
  [Method.RELATIONSHIP_ACCEPT]: { payload: { userId: Snowflake }; result: Relationship };
  [Method.RELATIONSHIP_REJECT]: { payload: { userId: Snowflake }; result: null };
  [Method.RELATIONSHIP_CANCEL]: { payload: { userId: Snowflake }; result: null };
  [Method.RELATIONSHIP_REMOVE]: { payload: { userId: Snowflake }; result: null };
  [Method.RELATIONSHIP_BLOCK]: { payload: { userId: Snowflake }; result: Relationship };
  [Method.RELATIONSHIP_UNBLOCK]: { payload: { userId: Snowflake }; result: null };
  [Method.PRESENCE_SET]: {
    payload: { status?: Exclude<PresenceStatus, 'offline'>; customStatus?: string | null };
    result: Presence;
  };
}

/** Event data, keyed by event type. */
export interface Events {
  [EventType.GUILD_CREATE]: Guild;
  [EventType.GUILD_UPDATE]: Omit<Guild, 'channels' | 'roles' | 'me'>;
  [EventType.GUILD_DELETE]: { id: Snowflake };
  [EventType.CHANNEL_CREATE]: Channel;
  [EventType.CHANNEL_UPDATE]: Channel;
  /** The channel was deleted, or the receiving user lost VIEW_CHANNEL on it. */
  [EventType.CHANNEL_DELETE]: { id: Snowflake; guildId: Snowflake };
  [EventType.GUILD_ROLE_CREATE]: Role;
  [EventType.GUILD_ROLE_UPDATE]: Role;
  [EventType.GUILD_ROLE_DELETE]: { id: Snowflake; guildId: Snowflake };
  [EventType.GUILD_MEMBER_ADD]: Member;
  [EventType.GUILD_MEMBER_UPDATE]: Member;
  [EventType.GUILD_MEMBER_REMOVE]: { guildId: Snowflake; user: User };
  [EventType.GUILD_BAN_ADD]: { guildId: Snowflake; user: User };
  [EventType.GUILD_BAN_REMOVE]: { guildId: Snowflake; user: User };
  [EventType.MESSAGE_CREATE]: Message;
  /** Only the fields that changed, plus ids. */
  [EventType.MESSAGE_UPDATE]: Pick<Message, 'id' | 'channelId' | 'guildId'> & Partial<Pick<Message, 'content' | 'editedAt' | 'mentions' | 'pinned'>>;
  [EventType.MESSAGE_REACTION_ADD]: { messageId: Snowflake; channelId: Snowflake; guildId: Snowflake | null; userId: Snowflake; emoji: string };
  [EventType.MESSAGE_REACTION_REMOVE]: { messageId: Snowflake; channelId: Snowflake; guildId: Snowflake | null; userId: Snowflake; emoji: string };
  /** Ephemeral (seq 0): show for 10 s unless repeated. */
  [EventType.TYPING_START]: { channelId: Snowflake; guildId: Snowflake | null; userId: Snowflake; expiresAt: number };
  [EventType.READ_STATE_UPDATE]: ReadState;
  /** `muted: false` when removed. */
  [EventType.MUTE_UPDATE]: Mute & { muted: boolean };
  [EventType.MESSAGE_DELETE]: { id: Snowflake; channelId: Snowflake; guildId: Snowflake | null };
  /** To a mentioned user (by id or role) who can see the channel. */
  [EventType.MESSAGE_MENTION]: { messageId: Snowflake; channelId: Snowflake; guildId: Snowflake; authorId: Snowflake };
  [EventType.DM_CREATE]: Dm;
  [EventType.DM_UPDATE]: Dm;
  [EventType.DM_DELETE]: { id: Snowflake };
  [EventType.USER_UPDATE]: SelfProfile;
  [EventType.RELATIONSHIP_ADD]: Relationship;
  [EventType.RELATIONSHIP_REMOVE]: { userId: Snowflake };
  [EventType.PRESENCE_UPDATE]: Presence;
}

/** A decoded event from a DISPATCH frame. */
export interface DispatchEvent<T extends keyof Events = keyof Events> {
  type: T;
  stream: string;
  epoch: number;
  seq: number;
  data: Events[T];
}
