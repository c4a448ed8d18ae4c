/** The relationship state machine and presence aggregation, as pure functions. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, PRESENCE_STATUSES, RelationshipType as T } from '../../protocol/opcodes.ts';
import { isValidNickname, nicknameKey } from '../../protocol/nickname.ts';
import { CommandError } from '../../engine/command-error.ts';
import { aggregate, isSessionStatus, visibleCustom, visibleStatus, type SessionStatus } from '../../engine/people/presence-model.ts';
import { decide, isBlocked, type RelationshipAction } from '../../engine/people/relationship-rules.ts';

const pair = (ab: number | null, ba: number | null, countA = 0, countB = 0) => ({ ab, ba, countA, countB });
const fails = (action: RelationshipAction, s: ReturnType<typeof pair>, code: number, max?: number) =>
  assert.throws(() => decide(action, s, max), (e: unknown) => e instanceof CommandError && e.code === code, `${action} on ${JSON.stringify(s)}`);

describe('relationship rules', () => {
  it('request: none → outgoing/incoming; answering a request makes friends; repeating is a no-op', () => {
    assert.deepEqual(decide('request', pair(null, null)), { ab: T.OUTGOING, ba: T.INCOMING });
    assert.deepEqual(decide('request', pair(T.INCOMING, T.OUTGOING)), { ab: T.FRIEND, ba: T.FRIEND });
    assert.deepEqual(decide('request', pair(T.OUTGOING, T.INCOMING)), { ab: T.OUTGOING, ba: T.INCOMING });
    fails('request', pair(T.FRIEND, T.FRIEND), ErrorCode.ALREADY_FRIENDS);
  });

  it('request: refused by a block either way (without saying which) and by limits on either side', () => {
    fails('request', pair(T.BLOCKED, null), ErrorCode.BLOCKED);
    fails('request', pair(null, T.BLOCKED), ErrorCode.BLOCKED);
    fails('request', pair(T.BLOCKED, T.BLOCKED), ErrorCode.BLOCKED);
    fails('request', pair(null, null, 5, 0), ErrorCode.LIMIT_REACHED, 5);
    fails('request', pair(null, null, 0, 5), ErrorCode.LIMIT_REACHED, 5);
    // Accepting a pending request is not limited.
    assert.deepEqual(decide('request', pair(T.INCOMING, T.OUTGOING, 5, 5), 5), { ab: T.FRIEND, ba: T.FRIEND });
  });

  it('accept, reject, cancel and remove need the matching relationship', () => {
    assert.deepEqual(decide('accept', pair(T.INCOMING, T.OUTGOING)), { ab: T.FRIEND, ba: T.FRIEND });
    assert.deepEqual(decide('reject', pair(T.INCOMING, T.OUTGOING)), { ab: null, ba: null });
    assert.deepEqual(decide('cancel', pair(T.OUTGOING, T.INCOMING)), { ab: null, ba: null });
    assert.deepEqual(decide('remove', pair(T.FRIEND, T.FRIEND)), { ab: null, ba: null });
    for (const [action, wrong] of [['accept', T.OUTGOING], ['reject', T.FRIEND], ['cancel', T.INCOMING], ['remove', T.OUTGOING], ['unblock', T.FRIEND]] as const) {
      fails(action, pair(wrong, null), ErrorCode.UNKNOWN_RELATIONSHIP);
      fails(action, pair(null, null), ErrorCode.UNKNOWN_RELATIONSHIP);
    }
  });

  it('block ends friendships and requests both ways but keeps the other side\'s own block; unblock keeps it too', () => {
    for (const before of [null, T.FRIEND, T.INCOMING, T.OUTGOING]) {
      const ba = before === T.INCOMING ? T.OUTGOING : before === T.OUTGOING ? T.INCOMING : before;
      assert.deepEqual(decide('block', pair(before, ba)), { ab: T.BLOCKED, ba: null });
    }
    assert.deepEqual(decide('block', pair(null, T.BLOCKED)), { ab: T.BLOCKED, ba: T.BLOCKED });
    assert.deepEqual(decide('unblock', pair(T.BLOCKED, T.BLOCKED)), { ab: null, ba: T.BLOCKED });
    assert.equal(isBlocked({ ab: null, ba: T.BLOCKED }), true);
    assert.equal(isBlocked({ ab: T.FRIEND, ba: T.FRIEND }), false);
  });
});

describe('presence model', () => {
  it('the most available session status wins: online > idle > dnd > invisible; none is offline', () => {
    assert.deepEqual([...PRESENCE_STATUSES], ['online', 'idle', 'dnd', 'invisible', 'offline']);
    assert.equal(aggregate([]), 'offline');
    const cases: [SessionStatus[], string][] = [
      [['invisible'], 'invisible'],
      [['dnd', 'invisible'], 'dnd'],
      [['invisible', 'idle', 'dnd'], 'idle'],
      [['dnd', 'online', 'idle'], 'online'],
    ];
    for (const [input, out] of cases) assert.equal(aggregate(input), out, input.join(','));
  });

  it('others see invisible as offline, and no custom status while offline', () => {
    assert.equal(visibleStatus('invisible'), 'offline');
    assert.equal(visibleStatus('dnd'), 'dnd');
    assert.equal(visibleCustom('offline', 'away'), null);
    assert.equal(visibleCustom('idle', 'away'), 'away');
    assert.equal(isSessionStatus('offline'), false);
    assert.equal(isSessionStatus('idle'), true);
  });
});

describe('nicknames', () => {
  it('2–32 characters of a-z A-Z 0-9 _ . -; compared lowercased', () => {
    for (const ok of ['ab', 'A_b.c-9', 'x'.repeat(32)]) assert.equal(isValidNickname(ok), true, ok);
    for (const bad of ['a', 'x'.repeat(33), 'with space', 'émile', 'a@b', '', 42]) assert.equal(isValidNickname(bad), false, String(bad));
    assert.equal(nicknameKey('MiXeD'), 'mixed');
  });
});
