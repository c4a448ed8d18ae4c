/**
 * The wire tables of protocol v1. Every number that crosses the socket is defined here once;
 * protocol/PROTOCOL.md mirrors these tables and test/unit/protocol-doc.test.ts keeps the two in step.
 */

export const PROTOCOL_VERSION = 1;

/** Opcodes: the first element of every frame (a msgpack array). */
export const Op = {
  /** S→C `[0, {v, heartbeatIntervalMs, maxFrameBytes}]` first frame after the upgrade. */
  HELLO: 0,
  /** C→S `[1, {token, client?}]` authenticate the connection. */
  IDENTIFY: 1,
  /** S→C `[2, ReadyPayload]` answer to a successful IDENTIFY. */
  READY: 2,
  /** C→S `[3]` keep-alive; answered by HEARTBEAT_ACK. */
  HEARTBEAT: 3,
  /** S→C `[4]` */
  HEARTBEAT_ACK: 4,
  /** C→S `[5, ref, method, payload]` a command. */
  REQUEST: 5,
  /** S→C `[6, ref, result]` the command succeeded. */
  OK: 6,
  /** S→C `[7, ref, code, message, details]` the command (or, with ref 0, the frame) failed. */
  ERROR: 7,
  /** S→C `[8, event, event, …]` one or more events; each event is `[type, stream, epoch, seq, data]`. */
  DISPATCH: 8,
  /** C→S `[9, {resumeId, token, streams: {name: [epoch, seq]}}]` resume a session instead of IDENTIFY. */
  RESUME: 9,
  /** S→C `[10, {replayed, resync: [{stream, reason, epoch, seq}]}]` after the replayed DISPATCH frames. */
  RESUMED: 10,
} as const;
export type Opcode = (typeof Op)[keyof typeof Op];

/** Event types carried in DISPATCH frames. */
export const EventType = {
  GUILD_CREATE: 'GUILD_CREATE',
  GUILD_UPDATE: 'GUILD_UPDATE',
  GUILD_DELETE: 'GUILD_DELETE',
  CHANNEL_CREATE: 'CHANNEL_CREATE',
  CHANNEL_UPDATE: 'CHANNEL_UPDATE',
  CHANNEL_DELETE: 'CHANNEL_DELETE',
  GUILD_ROLE_CREATE: 'GUILD_ROLE_CREATE',
  GUILD_ROLE_UPDATE: 'GUILD_ROLE_UPDATE',
  GUILD_ROLE_DELETE: 'GUILD_ROLE_DELETE',
  GUILD_MEMBER_ADD: 'GUILD_MEMBER_ADD',
  GUILD_MEMBER_UPDATE: 'GUILD_MEMBER_UPDATE',
  GUILD_MEMBER_REMOVE: 'GUILD_MEMBER_REMOVE',
  GUILD_BAN_ADD: 'GUILD_BAN_ADD',
  GUILD_BAN_REMOVE: 'GUILD_BAN_REMOVE',
  MESSAGE_CREATE: 'MESSAGE_CREATE',
  MESSAGE_UPDATE: 'MESSAGE_UPDATE',
  MESSAGE_DELETE: 'MESSAGE_DELETE',
  MESSAGE_REACTION_ADD: 'MESSAGE_REACTION_ADD',
  MESSAGE_REACTION_REMOVE: 'MESSAGE_REACTION_REMOVE',
  TYPING_START: 'TYPING_START',
  READ_STATE_UPDATE: 'READ_STATE_UPDATE',
  MUTE_UPDATE: 'MUTE_UPDATE',
  MESSAGE_MENTION: 'MESSAGE_MENTION',
  DM_CREATE: 'DM_CREATE',
  /** A group DM's name, owner or participants changed (on `d:<dmId>`). */
  DM_UPDATE: 'DM_UPDATE',
  /** The user left or was removed from a group DM (on `u:<userId>`). */
  DM_DELETE: 'DM_DELETE',
  /** The user's own profile changed (on `u:<userId>`, every tab). */
  USER_UPDATE: 'USER_UPDATE',
  /** A relationship was created or changed type (friend, request, block). */
  RELATIONSHIP_ADD: 'RELATIONSHIP_ADD',
  /** A relationship ended (unfriended, request rejected/cancelled, unblocked). */
  RELATIONSHIP_REMOVE: 'RELATIONSHIP_REMOVE',
  /** A friend's or guild member's status, custom status or public profile changed (ephemeral: seq 0 on `u:<userId>` of that user). */
  PRESENCE_UPDATE: 'PRESENCE_UPDATE',
} as const;
export type EventTypeName = (typeof EventType)[keyof typeof EventType];

/** Methods a REQUEST may name. */
export const Method = {
  GUILD_CREATE: 'guild.create',
  GUILD_UPDATE: 'guild.update',
  GUILD_TRANSFER: 'guild.transfer',
  GUILD_DELETE: 'guild.delete',
  GUILD_LEAVE: 'guild.leave',
  CHANNEL_CREATE: 'channel.create',
  CHANNEL_UPDATE: 'channel.update',
  CHANNEL_REORDER: 'channel.reorder',
  CHANNEL_DELETE: 'channel.delete',
  OVERWRITE_SET: 'overwrite.set',
  OVERWRITE_DELETE: 'overwrite.delete',
  ROLE_CREATE: 'role.create',
  ROLE_UPDATE: 'role.update',
  ROLE_REORDER: 'role.reorder',
  ROLE_DELETE: 'role.delete',
  MEMBER_LIST: 'member.list',
  MEMBER_ROLE_ADD: 'member.role.add',
  MEMBER_ROLE_REMOVE: 'member.role.remove',
  MEMBER_NICKNAME: 'member.nickname',
  MEMBER_KICK: 'member.kick',
  MEMBER_TIMEOUT: 'member.timeout',
  BAN_CREATE: 'ban.create',
  BAN_REMOVE: 'ban.remove',
  BAN_LIST: 'ban.list',
  INVITE_CREATE: 'invite.create',
  INVITE_LIST: 'invite.list',
  INVITE_REVOKE: 'invite.revoke',
  INVITE_JOIN: 'invite.join',
  AUDIT_LIST: 'audit.list',
  MESSAGE_SEND: 'message.send',
  MESSAGE_EDIT: 'message.edit',
  MESSAGE_DELETE: 'message.delete',
  MESSAGE_HISTORY: 'message.history',
  MESSAGE_PIN: 'message.pin',
  MESSAGE_UNPIN: 'message.unpin',
  MESSAGE_PINS: 'message.pins',
  MESSAGE_ACK: 'message.ack',
  REACTION_ADD: 'reaction.add',
  REACTION_REMOVE: 'reaction.remove',
  TYPING_START: 'typing.start',
  MUTE_SET: 'mute.set',
  MUTE_DELETE: 'mute.delete',
  DM_OPEN: 'dm.open',
  DM_SEND: 'dm.send',
  DM_HISTORY: 'dm.history',
  DM_LIST: 'dm.list',
  DM_GROUP_CREATE: 'dm.group.create',
  DM_GROUP_RENAME: 'dm.group.rename',
  DM_GROUP_ADD: 'dm.group.add',
  DM_GROUP_REMOVE: 'dm.group.remove',
  DM_GROUP_LEAVE: 'dm.group.leave',
  PROFILE_GET: 'profile.get',
  PROFILE_UPDATE: 'profile.update',
  USER_GET: 'user.get',
  USER_SEARCH: 'user.search',
  RELATIONSHIP_LIST: 'relationship.list',
  RELATIONSHIP_REQUEST: 'relationship.request',
  RELATIONSHIP_ACCEPT: 'relationship.accept',
  RELATIONSHIP_REJECT: 'relationship.reject',
  RELATIONSHIP_CANCEL: 'relationship.cancel',
  RELATIONSHIP_REMOVE: 'relationship.remove',
  RELATIONSHIP_BLOCK: 'relationship.block',
  RELATIONSHIP_UNBLOCK: 'relationship.unblock',
  PRESENCE_SET: 'presence.set',
} as const;
export type MethodName = (typeof Method)[keyof typeof Method];

/**
 * Error codes, grouped in ranges: 1xxx frame/protocol, 2xxx authentication, 3xxx access,
 * 4xxx unknown entity, 5xxx conflict/limits, 9xxx server. `retryable` says whether the
 * same command may succeed if sent again unchanged later.
 */
export const ErrorCode = {
  MALFORMED_FRAME: 1000,
  INVALID_FRAME: 1001,
  UNKNOWN_OPCODE: 1002,
  UNKNOWN_METHOD: 1003,
  INVALID_PAYLOAD: 1004,
  NOT_IDENTIFIED: 1005,
  ALREADY_IDENTIFIED: 1006,
  /** RESUME named a session that is unknown, expired, ended or another user's: send IDENTIFY. */
  INVALID_SESSION: 1007,

  AUTH_FAILED: 2000,
  INVALID_CREDENTIALS: 2001,
  EMAIL_TAKEN: 2002,
  NICKNAME_TAKEN: 2003,
  /** Login refused: the account has not confirmed its email address (REQUIRE_EMAIL_CONFIRMATION). */
  EMAIL_NOT_CONFIRMED: 2004,
  /** An emailed confirmation or password-reset token is unknown, already used or expired. */
  INVALID_EMAIL_TOKEN: 2005,

  FORBIDDEN: 3000,
  NOT_MEMBER: 3001,
  MISSING_PERMISSIONS: 3002,
  HIERARCHY: 3003,
  BANNED: 3004,
  /** A block between the two users (either direction, not said which) refuses a friend request or a DM. */
  BLOCKED: 3005,
  /** Only friends can be added to a group DM. */
  NOT_FRIENDS: 3006,

  UNKNOWN_GUILD: 4001,
  UNKNOWN_CHANNEL: 4002,
  UNKNOWN_USER: 4003,
  UNKNOWN_INVITE: 4004,
  UNKNOWN_DM: 4005,
  UNKNOWN_ROLE: 4006,
  UNKNOWN_MESSAGE: 4007,
  UNKNOWN_MEMBER: 4008,
  UNKNOWN_BAN: 4009,
  /** No live session with that id belongs to the caller (HTTP /auth/sessions). */
  UNKNOWN_SESSION: 4010,
  /** No such friend, pending request or block between the caller and that user. */
  UNKNOWN_RELATIONSHIP: 4011,

  INVITE_EXPIRED: 5001,
  ALREADY_MEMBER: 5002,
  LIMIT_REACHED: 5003,
  /** A rate limit refused the command; details.retryAfterMs says when to try again. */
  RATE_LIMITED: 5004,
  /** A friend request to someone who already is a friend. */
  ALREADY_FRIENDS: 5005,

  INTERNAL: 9000,
  UNAVAILABLE: 9001,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export const RETRYABLE_ERRORS: ReadonlySet<number> = new Set([ErrorCode.INTERNAL, ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED]);

/**
 * WebSocket close codes. `reconnect`: the client should connect again (with backoff);
 * `reidentify`: it needs a fresh access token first.
 */
export const CloseCode = {
  /** Normal closure (client or server said goodbye). */
  NORMAL: 1000,
  /** A frame exceeded HELLO's maxFrameBytes. (Beyond 4× that limit the TCP connection is dropped without a close frame.) */
  FRAME_TOO_LARGE: 1009,
  /** A service the server needs (database, ephemeral store) is unavailable: reconnect later. */
  TRY_AGAIN_LATER: 1013,
  UNKNOWN_ERROR: 4000,
  AUTHENTICATION_FAILED: 4001,
  IDENTIFY_TIMEOUT: 4002,
  HEARTBEAT_TIMEOUT: 4003,
  /** The session was revoked (logout, session management, password change or reset, refresh-token reuse): log in again. */
  SESSION_REVOKED: 4004,
  /** The connection kept sending commands while over its command budget (see RATE_LIMITED errors). */
  RATE_LIMITED: 4005,
  SLOW_CONSUMER: 4006,
  SERVER_SHUTDOWN: 4007,
  PROTOCOL_VIOLATION: 4008,
  /** Another connection resumed this connection's session. */
  SESSION_REPLACED: 4009,
} as const;
export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * `resume`: the server keeps the session for RESUME_WINDOW_MS after this close, so a reconnecting
 * client should send RESUME (falling back to IDENTIFY on INVALID_SESSION). Any close the server did
 * not initiate (1001, 1006 …) is resumable too; a client's own close with 1000 ends the session.
 */
export const CLOSE_BEHAVIOUR: Readonly<Record<CloseCodeValue, { reconnect: boolean; reidentify: boolean; resume: boolean }>> = {
  [CloseCode.NORMAL]: { reconnect: false, reidentify: false, resume: false },
  [CloseCode.FRAME_TOO_LARGE]: { reconnect: true, reidentify: false, resume: true },
  [CloseCode.TRY_AGAIN_LATER]: { reconnect: true, reidentify: false, resume: true },
  [CloseCode.UNKNOWN_ERROR]: { reconnect: true, reidentify: false, resume: true },
  [CloseCode.AUTHENTICATION_FAILED]: { reconnect: false, reidentify: true, resume: false },
  [CloseCode.IDENTIFY_TIMEOUT]: { reconnect: true, reidentify: false, resume: false },
  [CloseCode.HEARTBEAT_TIMEOUT]: { reconnect: true, reidentify: false, resume: true },
  [CloseCode.SESSION_REVOKED]: { reconnect: false, reidentify: true, resume: false },
  [CloseCode.RATE_LIMITED]: { reconnect: true, reidentify: false, resume: true },
  [CloseCode.SLOW_CONSUMER]: { reconnect: true, reidentify: false, resume: true },
  [CloseCode.SERVER_SHUTDOWN]: { reconnect: true, reidentify: false, resume: true },
  [CloseCode.PROTOCOL_VIOLATION]: { reconnect: false, reidentify: false, resume: false },
  [CloseCode.SESSION_REPLACED]: { reconnect: false, reidentify: false, resume: false },
};

/** Channel types (Discord's numbering). */
export const ChannelType = { TEXT: 0, CATEGORY: 4 } as const;
export type ChannelTypeValue = (typeof ChannelType)[keyof typeof ChannelType];

/** Message types: 0 is a user's message; the others are system messages the server writes. */
export const MessageType = {
  DEFAULT: 0,
  MEMBER_JOIN: 1,
  MEMBER_LEAVE: 2,
  MEMBER_KICK: 3,
  MEMBER_BAN: 4,
  /** Group DM: `authorId` added `mentions.users[0]`. */
  DM_RECIPIENT_ADD: 10,
  /** Group DM: `authorId` (the owner) removed `mentions.users[0]`. */
  DM_RECIPIENT_REMOVE: 11,
  /** Group DM: `authorId` left. */
  DM_RECIPIENT_LEAVE: 12,
  /** Group DM: `authorId` renamed it; `content` is the new name ('' = name cleared). */
  DM_NAME_CHANGE: 13,
  /** Group DM: ownership passed to `mentions.users[0]` because the owner (`authorId`) left. */
  DM_OWNER_CHANGE: 14,
} as const;
export type MessageTypeValue = (typeof MessageType)[keyof typeof MessageType];

/** Audit log action types (Discord's numbering where Discord has one). */
export const AuditAction = {
  GUILD_UPDATE: 1,
  CHANNEL_CREATE: 10,
  CHANNEL_UPDATE: 11,
  CHANNEL_DELETE: 12,
  OVERWRITE_CREATE: 13,
  OVERWRITE_UPDATE: 14,
  OVERWRITE_DELETE: 15,
  MEMBER_KICK: 20,
  MEMBER_BAN_ADD: 22,
  MEMBER_BAN_REMOVE: 23,
  MEMBER_UPDATE: 24,
  MEMBER_ROLE_UPDATE: 25,
  ROLE_CREATE: 30,
  ROLE_UPDATE: 31,
  ROLE_DELETE: 32,
  INVITE_CREATE: 40,
  INVITE_DELETE: 42,
  MESSAGE_DELETE: 72,
  MESSAGE_PIN: 74,
  MESSAGE_UNPIN: 75,
} as const;
export type AuditActionValue = (typeof AuditAction)[keyof typeof AuditAction];

/** Stream prefixes: an event's stream is `<prefix>:<id>`. */
export const StreamKind = { GUILD: 'g', DM: 'd', USER: 'u' } as const;

/** DM kinds (Discord's numbering): a 1:1 conversation or a group of up to 10 users. */
export const DmType = { DIRECT: 1, GROUP: 3 } as const;
export type DmTypeValue = (typeof DmType)[keyof typeof DmType];

/**
 * Relationship types, from the point of view of the user who holds the relationship (Discord's
 * numbering). A friendship is two FRIEND rows; a pending request is OUTGOING on the sender's side
 * and INCOMING on the recipient's; a block is one BLOCKED row on the blocker's side only.
 */
export const RelationshipType = { FRIEND: 1, BLOCKED: 2, INCOMING: 3, OUTGOING: 4 } as const;
export type RelationshipTypeValue = (typeof RelationshipType)[keyof typeof RelationshipType];

/**
 * Presence statuses, most available first. A user's status is the most available status among
 * their sessions; `invisible` is seen as `offline` by everyone but the user; `offline` cannot be set.
 */
export const PRESENCE_STATUSES = ['online', 'idle', 'dnd', 'invisible', 'offline'] as const;
export type PresenceStatus = (typeof PRESENCE_STATUSES)[number];
