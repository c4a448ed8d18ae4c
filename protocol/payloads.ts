/** Payload schemas of every method, validated at the gateway before any actor sees a command. */
import { ChannelType, Method, type MethodName } from './opcodes.ts';
import { ALL_PERMISSIONS } from './permissions.ts';
import { PEOPLE_PAYLOADS } from './people-payloads.ts';
import { array, boolean, integer, maybe, object, oneOf, optional, patch, refine, snowflake, string, type Check, type Infer } from './schema.ts';

export const LIMITS = {
  guildName: { min: 2, max: 100 },
  channelName: { min: 1, max: 100 },
  channelTopic: 1024,
  messageContent: 4000,
  nonce: 64,
  historyLimit: { min: 1, max: 100, default: 50 },
  inviteMaxUses: 10_000,
  inviteMaxAgeSec: 30 * 24 * 3600,
  guildDescription: 1024,
  iconUrl: 2048,
  roleName: { min: 1, max: 100 },
  memberNickname: { min: 1, max: 32 },
  auditReason: 512,
  memberListLimit: { min: 1, max: 1000, default: 100 },
  reorderItems: 500,
  /** Longest timeout: 28 days, like Discord. */
  timeoutMaxMs: 28 * 24 * 3600 * 1000,
} as const;

/** A permission bitfield: a canonical decimal string using only defined bits. */
const bitfield: Check<string> = refine(
  string({ max: 20, pattern: /^(0|[1-9][0-9]{0,19})$/ }),
  (v) => (BigInt(v) & ~ALL_PERMISSIONS) === 0n,
  '',
  'sets undefined permission bits',
);
const reason = optional(string({ max: LIMITS.auditReason }), null);
const url = string({ max: LIMITS.iconUrl, pattern: /^https?:\/\/\S+$/ });

/** Lowercase letters, digits, '-' and '_' (Discord's rule for text-channel names). */
export const CHANNEL_NAME_RE = /^[a-z0-9_-]+$/;
export const INVITE_CODE_RE = /^[A-Za-z0-9]{6,16}$/;

const content = string({ min: 1, max: LIMITS.messageContent, trim: true });
const nonce = optional(string({ min: 1, max: LIMITS.nonce }), null);
const limit = optional(integer(LIMITS.historyLimit.min, LIMITS.historyLimit.max), LIMITS.historyLimit.default);
const before = optional(snowflake, null);
const after = optional(snowflake, null);
const around = optional(snowflake, null);
const replyTo = optional(snowflake, null);

/** At most one history cursor. */
const oneCursor = (v: { before: string | null; after: string | null; around: string | null }) =>
  [v.before, v.after, v.around].filter((c) => c !== null).length <= 1;

/** Unicode emoji: pictographs with their joiners, variation selectors, skin tones and keycaps. */
export const EMOJI_RE = /^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Emoji_Component}|\u200d|\ufe0f|\u20e3)+$/u;
const emoji = refine(string({ min: 1, max: 32, pattern: EMOJI_RE }), (e) => /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20e3/u.test(e), '', 'must be an emoji');

/**
 * Where a message lives: a guild channel (`guildId` + `channelId`) or a DM (`dmId`), exactly one.
 * Methods that work in both places take these three fields.
 */
const place = { guildId: optional(snowflake, null), channelId: optional(snowflake, null), dmId: optional(snowflake, null) };
export const isPlace = (v: { guildId: string | null; channelId: string | null; dmId: string | null }) =>
  v.dmId !== null ? v.guildId === null && v.channelId === null : v.guildId !== null && v.channelId !== null;
const placed = <S extends Record<string, Check<unknown>>>(shape: S) =>
  refine(object({ ...place, ...shape }), (v) => isPlace(v as Infer<typeof place>), 'dmId', 'give either dmId, or guildId and channelId');

const guildName = string({ ...LIMITS.guildName, trim: true });
const channelName = string({ ...LIMITS.channelName, pattern: CHANNEL_NAME_RE });
const roleName = string({ ...LIMITS.roleName, trim: true });
const color = integer(0, 0xffffff);
const member = { guildId: snowflake, userId: snowflake };

export const PAYLOADS = {
  [Method.GUILD_CREATE]: object({ name: guildName }),
  [Method.GUILD_UPDATE]: object({
    guildId: snowflake,
    name: maybe(guildName),
    description: patch(string({ max: LIMITS.guildDescription })),
    iconUrl: patch(url),
    systemChannelId: patch(snowflake),
    reason,
  }),
  [Method.GUILD_TRANSFER]: object({ ...member }),
  [Method.GUILD_DELETE]: object({ guildId: snowflake }),
  [Method.GUILD_LEAVE]: object({ guildId: snowflake }),
  [Method.CHANNEL_CREATE]: object({
    guildId: snowflake,
    name: channelName,
    type: optional(oneOf(ChannelType.TEXT, ChannelType.CATEGORY), ChannelType.TEXT),
    topic: optional(string({ max: LIMITS.channelTopic }), null),
    parentId: optional(snowflake, null),
    reason,
  }),
  [Method.CHANNEL_UPDATE]: object({
    guildId: snowflake,
    channelId: snowflake,
    name: maybe(channelName),
    topic: patch(string({ max: LIMITS.channelTopic })),
    parentId: patch(snowflake),
    reason,
  }),
  [Method.CHANNEL_REORDER]: object({
    guildId: snowflake,
    positions: array(object({ id: snowflake, position: integer(0, 100_000), parentId: patch(snowflake) }), { min: 1, max: LIMITS.reorderItems }),
  }),
  [Method.CHANNEL_DELETE]: object({ guildId: snowflake, channelId: snowflake, reason }),
  [Method.OVERWRITE_SET]: object({
    guildId: snowflake,
    channelId: snowflake,
    targetId: snowflake,
    type: oneOf('role', 'member'),
    allow: optional(bitfield, '0'),
    deny: optional(bitfield, '0'),
    reason,
  }),
  [Method.OVERWRITE_DELETE]: object({ guildId: snowflake, channelId: snowflake, targetId: snowflake, reason }),
  [Method.ROLE_CREATE]: object({
    guildId: snowflake,
    name: optional(roleName, 'new role'),
    color: optional(color, 0),
    permissions: optional(bitfield, '0'),
    mentionable: optional(boolean, false),
    hoist: optional(boolean, false),
    reason,
  }),
  [Method.ROLE_UPDATE]: object({
    guildId: snowflake,
    roleId: snowflake,
    name: maybe(roleName),
    color: maybe(color),
    permissions: maybe(bitfield),
    mentionable: maybe(boolean),
    hoist: maybe(boolean),
    reason,
  }),
  [Method.ROLE_REORDER]: object({
    guildId: snowflake,
    positions: array(object({ id: snowflake, position: integer(1, 100_000) }), { min: 1, max: LIMITS.reorderItems }),
  }),
  [Method.ROLE_DELETE]: object({ guildId: snowflake, roleId: snowflake, reason }),
  [Method.MEMBER_LIST]: object({
    guildId: snowflake,
    after: optional(snowflake, null),
    limit: optional(integer(LIMITS.memberListLimit.min, LIMITS.memberListLimit.max), LIMITS.memberListLimit.default),
  }),
  [Method.MEMBER_ROLE_ADD]: object({ ...member, roleId: snowflake, reason }),
  [Method.MEMBER_ROLE_REMOVE]: object({ ...member, roleId: snowflake, reason }),
  [Method.MEMBER_NICKNAME]: object({ ...member, nickname: optional(string({ ...LIMITS.memberNickname, trim: true }), null), reason }),
  [Method.MEMBER_KICK]: object({ ...member, reason }),
  [Method.MEMBER_TIMEOUT]: object({ ...member, until: optional(integer(0, Number.MAX_SAFE_INTEGER), null), reason }),
  [Method.BAN_CREATE]: object({ ...member, reason }),
  [Method.BAN_REMOVE]: object({ ...member, reason }),
  [Method.BAN_LIST]: object({ guildId: snowflake }),
  [Method.INVITE_LIST]: object({ guildId: snowflake }),
  [Method.INVITE_REVOKE]: object({ guildId: snowflake, code: string({ max: 16, pattern: INVITE_CODE_RE }), reason }),
  [Method.AUDIT_LIST]: object({
    guildId: snowflake,
    userId: optional(snowflake, null),
    action: optional(integer(0, 1000), null),
    before: optional(snowflake, null),
    after: optional(snowflake, null),
    limit,
  }),
  [Method.MESSAGE_DELETE]: placed({ messageId: snowflake, reason }),
  [Method.MESSAGE_EDIT]: placed({ messageId: snowflake, content }),
  [Method.MESSAGE_PIN]: placed({ messageId: snowflake, reason }),
  [Method.MESSAGE_UNPIN]: placed({ messageId: snowflake, reason }),
  [Method.MESSAGE_PINS]: placed({}),
  [Method.REACTION_ADD]: placed({ messageId: snowflake, emoji }),
  [Method.REACTION_REMOVE]: placed({ messageId: snowflake, emoji }),
  [Method.TYPING_START]: placed({}),
  [Method.MESSAGE_ACK]: placed({ messageId: snowflake }),
  [Method.MUTE_SET]: object({
    targetId: snowflake,
    type: oneOf('channel', 'guild', 'dm'),
    until: optional(integer(0, Number.MAX_SAFE_INTEGER), null),
  }),
  [Method.MUTE_DELETE]: object({ targetId: snowflake }),
  [Method.INVITE_CREATE]: object({
    guildId: snowflake,
    channelId: optional(snowflake, null),
    maxUses: optional(integer(1, LIMITS.inviteMaxUses), null),
    maxAgeSec: optional(integer(1, LIMITS.inviteMaxAgeSec), null),
  }),
  [Method.INVITE_JOIN]: object({ code: string({ max: 16, pattern: INVITE_CODE_RE }) }),
  [Method.MESSAGE_SEND]: object({ guildId: snowflake, channelId: snowflake, content, nonce, replyTo }),
  [Method.MESSAGE_HISTORY]: refine(object({ guildId: snowflake, channelId: snowflake, before, after, around, limit }), oneCursor, 'before', 'give at most one of before, after, around'),
  [Method.DM_OPEN]: object({ userId: snowflake }),
  [Method.DM_SEND]: object({ dmId: snowflake, content, nonce, replyTo }),
  [Method.DM_HISTORY]: refine(object({ dmId: snowflake, before, after, around, limit }), oneCursor, 'before', 'give at most one of before, after, around'),
  ...PEOPLE_PAYLOADS,
} satisfies Record<MethodName, Check<unknown>>;

export type Payload<M extends MethodName> = Exclude<ReturnType<(typeof PAYLOADS)[M]>, { field: string; reason: string }>;

/** IDENTIFY `[1, {token, client?}]`. */
export const IDENTIFY_PAYLOAD = object({
  token: string({ min: 1, max: 4096 }),
  client: optional(string({ max: 64 }), null),
  /** The status to come online with (as presence.set for this login); absent: the usual rule. */
  status: optional(oneOf('online', 'idle', 'dnd', 'invisible'), null),
});
