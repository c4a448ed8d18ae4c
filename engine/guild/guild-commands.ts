/**
 * What a GuildActor accepts: a protocol method with its validated payload, or one of the
 * internal commands the gateway uses. `userId` is always the authenticated caller.
 */
import { Method, type MethodName } from '../../protocol/opcodes.ts';
import type { Payload } from '../../protocol/payloads.ts';

/** Methods a GuildActor owns (routed by payload.guildId, or by invite code for invite.join). */
export const GUILD_METHODS = [
  Method.GUILD_UPDATE, Method.GUILD_TRANSFER, Method.GUILD_DELETE, Method.GUILD_LEAVE,
  Method.CHANNEL_CREATE, Method.CHANNEL_UPDATE, Method.CHANNEL_REORDER, Method.CHANNEL_DELETE,
  Method.OVERWRITE_SET, Method.OVERWRITE_DELETE,
  Method.ROLE_CREATE, Method.ROLE_UPDATE, Method.ROLE_REORDER, Method.ROLE_DELETE,
  Method.MEMBER_LIST, Method.MEMBER_ROLE_ADD, Method.MEMBER_ROLE_REMOVE, Method.MEMBER_NICKNAME,
  Method.MEMBER_KICK, Method.MEMBER_TIMEOUT, Method.BAN_CREATE, Method.BAN_REMOVE, Method.BAN_LIST,
  Method.INVITE_CREATE, Method.INVITE_LIST, Method.INVITE_REVOKE, Method.INVITE_JOIN, Method.AUDIT_LIST,
  Method.MESSAGE_SEND, Method.MESSAGE_HISTORY,
] as const satisfies readonly MethodName[];

/** Methods that work in a guild channel or a DM: routed to the GuildActor when the payload names a guild. */
export const PLACE_METHODS = [
  Method.MESSAGE_EDIT, Method.MESSAGE_DELETE, Method.MESSAGE_PIN, Method.MESSAGE_UNPIN, Method.MESSAGE_PINS,
  Method.REACTION_ADD, Method.REACTION_REMOVE, Method.TYPING_START, Method.MESSAGE_ACK,
] as const satisfies readonly MethodName[];
export type PlaceMethod = (typeof PLACE_METHODS)[number];
export type GuildMethod = (typeof GUILD_METHODS)[number] | PlaceMethod;

export type GuildCommand =
  | { [M in GuildMethod]: { method: M; userId: string; payload: Payload<M> } }[GuildMethod]
  | { method: 'create'; userId: string; payload: Payload<typeof Method.GUILD_CREATE> }
  /** READY's view of the guild; `nickname` is the user's, read by the caller (READY) so the actor need not. */
  | { method: 'snapshot'; userId: string; nickname: string };
