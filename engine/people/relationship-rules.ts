/**
 * The relationship state machine, as pure functions over one pair. `ab` is the actor's row toward
 * the other user, `ba` the other user's row toward the actor (RelationshipType numbers, null =
 * none). Each action returns the next pair or throws a CommandError; the store applies the result
 * atomically (see RelationshipStore.transition).
 *
 *   action   requires                      result (ab, ba)
 *   request  no block either way, not      (OUTGOING, INCOMING); if the other already asked:
 *            friends, limits not reached    (FRIEND, FRIEND); if already asked: unchanged
 *   accept   ab = INCOMING                  (FRIEND, FRIEND)
 *   reject   ab = INCOMING                  (none, none)
 *   cancel   ab = OUTGOING                  (none, none)
 *   remove   ab = FRIEND                    (none, none)
 *   block    —                              (BLOCKED, BLOCKED if the other blocked too, else none):
 *                                           friendship and pending requests both ways end
 *   unblock  ab = BLOCKED                   (none, ba unchanged)
 */
import { ErrorCode, RelationshipType as T } from '../../protocol/opcodes.ts';
import { PEOPLE_LIMITS } from '../../protocol/people-payloads.ts';
import type { PairSnapshot, PairState } from '../../storage/ports.ts';
import { CommandError } from '../command-error.ts';

export type RelationshipAction = 'request' | 'accept' | 'reject' | 'cancel' | 'remove' | 'block' | 'unblock';

const unknown = (what: string) => new CommandError(ErrorCode.UNKNOWN_RELATIONSHIP, `no ${what} with this user`);

export function decide(action: RelationshipAction, s: PairSnapshot, maxRelationships: number = PEOPLE_LIMITS.maxRelationships): PairState {
  const { ab, ba } = s;
  switch (action) {
    case 'request':
      if (ab === T.BLOCKED || ba === T.BLOCKED) throw new CommandError(ErrorCode.BLOCKED, 'a block between you and this user prevents friend requests');
      if (ab === T.FRIEND) throw new CommandError(ErrorCode.ALREADY_FRIENDS, 'already friends');
      if (ab === T.OUTGOING) return { ab, ba };
      if (ab === T.INCOMING) return { ab: T.FRIEND, ba: T.FRIEND };
      if (s.countA >= maxRelationships) throw new CommandError(ErrorCode.LIMIT_REACHED, `at most ${maxRelationships} friends and pending requests`, { limit: maxRelationships });
      if (s.countB >= maxRelationships) throw new CommandError(ErrorCode.LIMIT_REACHED, 'this user cannot receive more friend requests', { limit: maxRelationships });
      return { ab: T.OUTGOING, ba: T.INCOMING };
    case 'accept':
      if (ab !== T.INCOMING) throw unknown('incoming friend request');
      return { ab: T.FRIEND, ba: T.FRIEND };
    case 'reject':
      if (ab !== T.INCOMING) throw unknown('incoming friend request');
      return { ab: null, ba: null };
    case 'cancel':
      if (ab !== T.OUTGOING) throw unknown('outgoing friend request');
      return { ab: null, ba: null };
    case 'remove':
      if (ab !== T.FRIEND) throw unknown('friendship');
      return { ab: null, ba: null };
    case 'block':
      return { ab: T.BLOCKED, ba: ba === T.BLOCKED ? T.BLOCKED : null };
    case 'unblock':
      if (ab !== T.BLOCKED) throw unknown('block');
      return { ab: null, ba };
  }
}

/** True when either user blocked the other. */
export const isBlocked = (s: PairState): boolean => s.ab === T.BLOCKED || s.ba === T.BLOCKED;
