/**
 * Payload schemas of the people methods (profiles, search, relationships, presence, DM list and
 * group DMs). Spread into PAYLOADS (payloads.ts), so the gateway validates them like every other.
 */
import { Method } from './opcodes.ts';
import { NICKNAME_MAX, NICKNAME_MIN, NICKNAME_PREFIX_RE, NICKNAME_RE } from './nickname.ts';
import { array, integer, maybe, object, oneOf, optional, patch, snowflake, string } from './schema.ts';

export const PEOPLE_LIMITS = {
  displayName: { min: 1, max: 32 },
  bio: 190,
  avatarUrl: 2048,
  customStatus: 128,
  searchLimit: { min: 1, max: 25, default: 10 },
  dmListLimit: { min: 1, max: 100, default: 50 },
  groupDmName: { min: 1, max: 100 },
  /** Participants of a group DM, its owner included. */
  groupDmMaxRecipients: 10,
  /** Friends plus pending requests per user. */
  maxRelationships: 1000,
} as const;

const nickname = string({ min: NICKNAME_MIN, max: NICKNAME_MAX, pattern: NICKNAME_RE });
const groupDmName = string({ ...PEOPLE_LIMITS.groupDmName, trim: true });
const url = string({ max: PEOPLE_LIMITS.avatarUrl, pattern: /^https?:\/\/\S+$/ });
const target = object({ userId: snowflake });

export const PEOPLE_PAYLOADS = {
  [Method.PROFILE_GET]: object({}),
  [Method.PROFILE_UPDATE]: object({
    nickname: maybe(nickname),
    displayName: patch(string({ ...PEOPLE_LIMITS.displayName, trim: true })),
    bio: patch(string({ max: PEOPLE_LIMITS.bio, trim: true })),
    avatarUrl: patch(url),
  }),
  [Method.USER_GET]: target,
  [Method.USER_SEARCH]: object({
    prefix: string({ min: 1, max: NICKNAME_MAX, pattern: NICKNAME_PREFIX_RE }),
    limit: optional(integer(PEOPLE_LIMITS.searchLimit.min, PEOPLE_LIMITS.searchLimit.max), PEOPLE_LIMITS.searchLimit.default),
  }),
  [Method.RELATIONSHIP_LIST]: object({}),
  /** Exactly one of nickname and userId (checked by the handler, which reports `nickname`). */
  [Method.RELATIONSHIP_REQUEST]: object({ nickname: optional(nickname, null), userId: optional(snowflake, null) }),
  [Method.RELATIONSHIP_ACCEPT]: target,
  [Method.RELATIONSHIP_REJECT]: target,
  [Method.RELATIONSHIP_CANCEL]: target,
  [Method.RELATIONSHIP_REMOVE]: target,
  [Method.RELATIONSHIP_BLOCK]: target,
  [Method.RELATIONSHIP_UNBLOCK]: target,
  [Method.PRESENCE_SET]: object({
    status: maybe(oneOf('online', 'idle', 'dnd', 'invisible')),
    customStatus: patch(string({ min: 1, max: PEOPLE_LIMITS.customStatus, trim: true })),
  }),
  [Method.DM_LIST]: object({
    before: optional(snowflake, null),
    limit: optional(integer(PEOPLE_LIMITS.dmListLimit.min, PEOPLE_LIMITS.dmListLimit.max), PEOPLE_LIMITS.dmListLimit.default),
  }),
  [Method.DM_GROUP_CREATE]: object({
    userIds: array(snowflake, { min: 1, max: PEOPLE_LIMITS.groupDmMaxRecipients - 1 }),
    name: optional(groupDmName, null),
  }),
  [Method.DM_GROUP_RENAME]: object({ dmId: snowflake, name: optional(groupDmName, null) }),
  [Method.DM_GROUP_ADD]: object({ dmId: snowflake, userId: snowflake }),
  [Method.DM_GROUP_REMOVE]: object({ dmId: snowflake, userId: snowflake }),
  [Method.DM_GROUP_LEAVE]: object({ dmId: snowflake }),
} as const;
