/**
 * Maps each protocol method to its payload schema and the actor that owns it. The gateway only
 * validates and routes; every check, mutation, write and broadcast happens inside the actor.
 */
import { ErrorCode, Method, type MethodName } from '../../protocol/opcodes.ts';
import type { SnowflakeGenerator } from '../../protocol/ids.ts';
import { PAYLOADS, type Payload } from '../../protocol/payloads.ts';
import type { Check } from '../../protocol/schema.ts';
import type { DmStore, GuildStore } from '../../storage/ports.ts';
import type { Router } from '../cluster/router.ts';
import { notFound } from '../command-error.ts';
import type { DmCommand } from '../dm/dm-commands.ts';
import { DM_METHODS, type DmMethod } from '../dm/dm-commands.ts';
import { GUILD_METHODS, PLACE_METHODS, type GuildCommand, type GuildMethod } from '../guild/guild-commands.ts';
import type { UserCommand } from '../user/user-commands.ts';
import { buildPeopleCommands } from './people-commands.ts';

export interface Caller {
  userId: string;
  sessionId: string;
}

export interface CommandEntry {
  schema: Check<unknown>;
  run(caller: Caller, payload: any): Promise<unknown>;
}

export interface CommandTableDeps {
  router: Router;
  guilds: GuildStore;
  dms: DmStore;
  ids: SnowflakeGenerator;
}

export function buildCommandTable({ router, guilds, dms, ids }: CommandTableDeps): Record<MethodName, CommandEntry> {
  const guild = (guildId: string, cmd: GuildCommand) => router.ask('guild', guildId, cmd);
  const dm = (dmId: string, cmd: DmCommand) => router.ask('dm', dmId, cmd);
  const user = (userId: string, cmd: UserCommand) => router.ask('user', userId, cmd);
  const entry = <M extends MethodName>(method: M, run: (c: Caller, p: Payload<M>) => Promise<unknown>): CommandEntry => ({
    schema: PAYLOADS[method] as Check<unknown>,
    run,
  });

  const toDm = <M extends DmMethod>(method: M, dmId: string, c: Caller, p: Payload<M>) =>
    dm(dmId, { method, userId: c.userId, payload: p } as DmCommand);

  /** Methods that work in both places go to the DM's actor when the payload names a DM. */
  const placeEntries = Object.fromEntries(
    PLACE_METHODS.map((method) => [
      method,
      entry(method, (c, p: Payload<typeof method>) =>
        p.dmId !== null
          ? toDm(method, p.dmId, c, p)
          : guild(p.guildId!, { method, userId: c.userId, payload: p } as GuildCommand)),
    ]),
  );
  const dmEntries = Object.fromEntries(
    DM_METHODS.filter((m) => !(PLACE_METHODS as readonly string[]).includes(m)).map((method) => [
      method,
      entry(method, (c, p: Payload<typeof method>) => toDm(method, (p as { dmId: string }).dmId, c, p)),
    ]),
  );

  const guildEntries = Object.fromEntries(
    GUILD_METHODS.filter((m) => !(PLACE_METHODS as readonly string[]).includes(m)).map((method) => [
      method,
      entry(method, async (c, p: Payload<GuildMethod>) => {
        let guildId: string;
        if (method === Method.INVITE_JOIN) {
          const invite = await guilds.findInvite((p as Payload<typeof Method.INVITE_JOIN>).code);
          if (!invite) throw notFound(ErrorCode.UNKNOWN_INVITE, 'invite');
          guildId = invite.guildId;
        } else guildId = (p as { guildId: string }).guildId;
        return guild(guildId, { method, userId: c.userId, payload: p } as GuildCommand);
      }),
    ]),
  ) as Record<GuildMethod, CommandEntry>;

  return {
    ...guildEntries,
    ...dmEntries,
    ...placeEntries,
    ...buildPeopleCommands({ router, dms }),
    [Method.GUILD_CREATE]: entry(Method.GUILD_CREATE, (c, p) => guild(ids.next(), { method: 'create', userId: c.userId, payload: p })),
    [Method.DM_OPEN]: entry(Method.DM_OPEN, (c, p) => user(c.userId, { type: 'openDm', targetId: p.userId })),
    [Method.MUTE_SET]: entry(Method.MUTE_SET, (c, p) => user(c.userId, { type: 'mute', targetId: p.targetId, targetType: p.type, until: p.until })),
    [Method.MUTE_DELETE]: entry(Method.MUTE_DELETE, (c, p) => user(c.userId, { type: 'unmute', targetId: p.targetId })),
  } as Record<MethodName, CommandEntry>;
}
