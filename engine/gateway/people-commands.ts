/**
 * Routing of the people methods: profiles, search, relationships and presence go to the caller's
 * UserActor; group DM changes to the DM's actor; dm.group.create and dm.list to the caller's
 * UserActor (there is no DM actor yet, or many DMs are involved).
 *
 * relationship.block/unblock also tell the actor of the pair's 1:1 DM, if there is one, to drop
 * its cached block state before the command is answered: once a block is acknowledged, the DM
 * refuses messages. (The gateway may await several actors; only user actors may not await each
 * other.)
 */
import { Method, type MethodName } from '../../protocol/opcodes.ts';
import { PAYLOADS, type Payload } from '../../protocol/payloads.ts';
import type { Check } from '../../protocol/schema.ts';
import type { DmStore } from '../../storage/ports.ts';
import type { Router } from '../cluster/router.ts';
import type { DmCommand } from '../dm/dm-commands.ts';
import type { RelationshipAction } from '../people/relationship-rules.ts';
import type { UserCommand } from '../user/user-commands.ts';
import type { Caller, CommandEntry } from './command-table.ts';

export interface PeopleCommandDeps {
  router: Router;
  dms: DmStore;
}

type PeopleMethod =
  | typeof Method.PROFILE_GET | typeof Method.PROFILE_UPDATE | typeof Method.USER_GET | typeof Method.USER_SEARCH
  | typeof Method.RELATIONSHIP_LIST | typeof Method.RELATIONSHIP_REQUEST | typeof Method.RELATIONSHIP_ACCEPT
  | typeof Method.RELATIONSHIP_REJECT | typeof Method.RELATIONSHIP_CANCEL | typeof Method.RELATIONSHIP_REMOVE
  | typeof Method.RELATIONSHIP_BLOCK | typeof Method.RELATIONSHIP_UNBLOCK | typeof Method.PRESENCE_SET
  | typeof Method.DM_LIST | typeof Method.DM_GROUP_CREATE | typeof Method.DM_GROUP_RENAME | typeof Method.DM_GROUP_ADD
  | typeof Method.DM_GROUP_REMOVE | typeof Method.DM_GROUP_LEAVE;

export function buildPeopleCommands({ router, dms }: PeopleCommandDeps): Record<PeopleMethod, CommandEntry> {
  const user = (userId: string, cmd: UserCommand) => router.ask('user', userId, cmd);
  const dm = (dmId: string, cmd: DmCommand) => router.ask('dm', dmId, cmd);
  const entry = <M extends MethodName>(method: M, run: (c: Caller, p: Payload<M>) => Promise<unknown>): CommandEntry => ({
    schema: PAYLOADS[method] as Check<unknown>,
    run,
  });
  const relationship = (action: RelationshipAction) => (c: Caller, p: { userId: string }) =>
    user(c.userId, { type: 'relationship', action, targetId: p.userId, nickname: null });
  const blockChange = (action: 'block' | 'unblock') => async (c: Caller, p: { userId: string }) => {
    const result = await relationship(action)(c, p);
    const pair = await dms.findPair(c.userId, p.userId);
    if (pair) await dm(pair.id, { method: 'blocks.changed', userId: c.userId });
    return result;
  };

  return {
    [Method.PROFILE_GET]: entry(Method.PROFILE_GET, (c) => user(c.userId, { type: 'profile.get' })),
    [Method.PROFILE_UPDATE]: entry(Method.PROFILE_UPDATE, (c, p) => user(c.userId, { type: 'profile.update', patch: p })),
    [Method.USER_GET]: entry(Method.USER_GET, (c, p) => user(c.userId, { type: 'user.get', targetId: p.userId })),
    [Method.USER_SEARCH]: entry(Method.USER_SEARCH, (c, p) => user(c.userId, { type: 'user.search', prefix: p.prefix, limit: p.limit })),
    [Method.RELATIONSHIP_LIST]: entry(Method.RELATIONSHIP_LIST, (c) => user(c.userId, { type: 'relationship.list' })),
    [Method.RELATIONSHIP_REQUEST]: entry(Method.RELATIONSHIP_REQUEST, (c, p) =>
      user(c.userId, { type: 'relationship', action: 'request', targetId: p.userId, nickname: p.nickname })),
    [Method.RELATIONSHIP_ACCEPT]: entry(Method.RELATIONSHIP_ACCEPT, relationship('accept')),
    [Method.RELATIONSHIP_REJECT]: entry(Method.RELATIONSHIP_REJECT, relationship('reject')),
    [Method.RELATIONSHIP_CANCEL]: entry(Method.RELATIONSHIP_CANCEL, relationship('cancel')),
    [Method.RELATIONSHIP_REMOVE]: entry(Method.RELATIONSHIP_REMOVE, relationship('remove')),
    [Method.RELATIONSHIP_BLOCK]: entry(Method.RELATIONSHIP_BLOCK, blockChange('block')),
    [Method.RELATIONSHIP_UNBLOCK]: entry(Method.RELATIONSHIP_UNBLOCK, blockChange('unblock')),
    [Method.PRESENCE_SET]: entry(Method.PRESENCE_SET, (c, p) =>
      user(c.userId, { type: 'presence.set', loginId: c.sessionId, status: p.status, customStatus: p.customStatus })),
    [Method.DM_LIST]: entry(Method.DM_LIST, (c, p) => user(c.userId, { type: 'dm.list', before: p.before, limit: p.limit })),
    [Method.DM_GROUP_CREATE]: entry(Method.DM_GROUP_CREATE, (c, p) => user(c.userId, { type: 'dm.group.create', userIds: p.userIds, name: p.name })),
    [Method.DM_GROUP_RENAME]: entry(Method.DM_GROUP_RENAME, (c, p) => dm(p.dmId, { method: 'group.rename', userId: c.userId, name: p.name })),
    [Method.DM_GROUP_ADD]: entry(Method.DM_GROUP_ADD, (c, p) => dm(p.dmId, { method: 'group.add', userId: c.userId, targetId: p.userId })),
    [Method.DM_GROUP_REMOVE]: entry(Method.DM_GROUP_REMOVE, (c, p) => dm(p.dmId, { method: 'group.remove', userId: c.userId, targetId: p.userId })),
    [Method.DM_GROUP_LEAVE]: entry(Method.DM_GROUP_LEAVE, (c, p) => dm(p.dmId, { method: 'group.leave', userId: c.userId })),
  };
}
