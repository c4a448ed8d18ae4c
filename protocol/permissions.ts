/**
 * Discord-compatible permission computation for the text-chat subset. Pure: it sees a guild only
 * through PermissionSubject, so the engine (from actor state) and clients (from READY and events)
 * compute the same answer. Bitfields are bigints in code and decimal strings on the wire.
 */

/** Bit positions are Discord's. */
export const Permission = {
  CREATE_INSTANT_INVITE: 1n << 0n,
  KICK_MEMBERS: 1n << 1n,
  BAN_MEMBERS: 1n << 2n,
  ADMINISTRATOR: 1n << 3n,
  MANAGE_CHANNELS: 1n << 4n,
  MANAGE_GUILD: 1n << 5n,
  ADD_REACTIONS: 1n << 6n,
  VIEW_AUDIT_LOG: 1n << 7n,
  VIEW_CHANNEL: 1n << 10n,
  SEND_MESSAGES: 1n << 11n,
  MANAGE_MESSAGES: 1n << 13n,
  EMBED_LINKS: 1n << 14n,
  ATTACH_FILES: 1n << 15n,
  READ_MESSAGE_HISTORY: 1n << 16n,
  MENTION_EVERYONE: 1n << 17n,
  CHANGE_NICKNAME: 1n << 26n,
  MANAGE_NICKNAMES: 1n << 27n,
  MANAGE_ROLES: 1n << 28n,
  MODERATE_MEMBERS: 1n << 40n,
  PIN_MESSAGES: 1n << 51n,
} as const;
export type PermissionName = keyof typeof Permission;

/** Every permission this protocol defines. */
export const ALL_PERMISSIONS: bigint = Object.values(Permission).reduce((a, b) => a | b, 0n);

/** What @everyone gets in a new guild (Discord's text-relevant defaults). */
export const DEFAULT_EVERYONE_PERMISSIONS: bigint =
  Permission.CREATE_INSTANT_INVITE | Permission.ADD_REACTIONS | Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES |
  Permission.EMBED_LINKS | Permission.ATTACH_FILES | Permission.READ_MESSAGE_HISTORY | Permission.MENTION_EVERYONE |
  Permission.CHANGE_NICKNAME;

/** What a timed-out member keeps. */
export const TIMEOUT_ALLOWED: bigint = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY;

/** Voided when SEND_MESSAGES is missing. */
const SEND_DEPENDENT: bigint = Permission.MENTION_EVERYONE | Permission.ATTACH_FILES | Permission.EMBED_LINKS;

const BITFIELD_RE = /^(0|[1-9][0-9]{0,19})$/;

/** Parses a decimal-string bitfield; throws RangeError unless it is canonical and only uses defined bits. */
export function parseBitfield(value: string): bigint {
  if (!BITFIELD_RE.test(value)) throw new RangeError('bitfield must be a canonical decimal string');
  const bits = BigInt(value);
  if ((bits & ~ALL_PERMISSIONS) !== 0n) throw new RangeError('bitfield sets undefined permission bits');
  return bits;
}

export const formatBitfield = (bits: bigint): string => bits.toString();

export const has = (perms: bigint, needed: bigint): boolean => (perms & needed) === needed;

export interface Overwrite {
  /** 'role' targets a role id (the @everyone role's id is the guild id); 'member' a user id. */
  type: 'role' | 'member';
  id: string;
  allow: bigint;
  deny: bigint;
}

/** The facts the computation needs about one member of one guild. */
export interface PermissionSubject {
  guildId: string;
  ownerId: string;
  userId: string;
  /** Permissions of the @everyone role. */
  everyone: bigint;
  /** Permissions of each of the member's other roles. */
  rolePermissions: readonly bigint[];
  /** The member's role ids (without @everyone). */
  roleIds: ReadonlySet<string>;
  /** Timed out right now. */
  timedOut: boolean;
}

/** Owner or ADMINISTRATOR: every permission, in every channel, immune to timeouts and overwrites. */
function isPrivileged(s: PermissionSubject): boolean {
  return s.userId === s.ownerId || has(rolePermissions(s), Permission.ADMINISTRATOR);
}

function rolePermissions(s: PermissionSubject): bigint {
  let perms = s.everyone;
  for (const p of s.rolePermissions) perms |= p;
  return perms;
}

/** Guild-level permissions: owner → all; else @everyone | roles; ADMINISTRATOR → all; a timeout keeps only view and read. */
export function basePermissions(s: PermissionSubject): bigint {
  if (isPrivileged(s)) return ALL_PERMISSIONS;
  const perms = rolePermissions(s);
  return s.timedOut ? perms & TIMEOUT_ALLOWED : perms;
}

/**
 * Channel permissions: base, then the @everyone overwrite (deny, then allow), then all of the
 * member's role overwrites together (OR of denies, then OR of allows; role position does not
 * matter), then the member overwrite (deny, then allow). A timeout keeps only view and read.
 * Without VIEW_CHANNEL nothing else applies; without SEND_MESSAGES its dependents are void.
 */
export function channelPermissions(s: PermissionSubject, overwrites: readonly Overwrite[]): bigint {
  if (isPrivileged(s)) return ALL_PERMISSIONS;
  let perms = rolePermissions(s);
  let roleAllow = 0n;
  let roleDeny = 0n;
  let member: Overwrite | undefined;
  for (const o of overwrites) {
    if (o.type === 'role' && o.id === s.guildId) perms = (perms & ~o.deny) | o.allow;
    else if (o.type === 'role' && s.roleIds.has(o.id)) {
      roleAllow |= o.allow;
      roleDeny |= o.deny;
    } else if (o.type === 'member' && o.id === s.userId) member = o;
  }
  perms = (perms & ~roleDeny) | roleAllow;
  if (member) perms = (perms & ~member.deny) | member.allow;
  if (s.timedOut) perms &= TIMEOUT_ALLOWED;
  if (!has(perms, Permission.VIEW_CHANNEL)) return 0n;
  if (!has(perms, Permission.SEND_MESSAGES)) perms &= ~SEND_DEPENDENT;
  return perms;
}
