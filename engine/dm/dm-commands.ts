/**
 * What a DmActor accepts: a protocol method with its validated payload, or an internal command.
 * `userId` is always the authenticated caller, who must be a participant.
 */
import { Method, type MethodName } from '../../protocol/opcodes.ts';
import type { Payload } from '../../protocol/payloads.ts';
import { PLACE_METHODS, type PlaceMethod } from '../guild/guild-commands.ts';
import type { DmMembershipCommand } from './dm-membership.ts';

/** Methods addressed to a DM by `dmId`. */
export const DM_METHODS = [Method.DM_SEND, Method.DM_HISTORY, ...PLACE_METHODS] as const satisfies readonly MethodName[];
export type DmMethod = typeof Method.DM_SEND | typeof Method.DM_HISTORY | PlaceMethod;

export type DmCommand =
  | { [M in DmMethod]: { method: M; userId: string; payload: Payload<M> } }[DmMethod]
  | { method: 'snapshot'; userId: string }
  | DmMembershipCommand;
