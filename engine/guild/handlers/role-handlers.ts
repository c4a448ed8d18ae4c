/** Roles and role assignment, bounded by the hierarchy and by the permissions the actor holds. */
import { ErrorCode, type Method } from '../../../protocol/opcodes.ts';
import { ALL_PERMISSIONS, has, parseBitfield, Permission } from '../../../protocol/permissions.ts';
import type { Payload } from '../../../protocol/payloads.ts';
import type { Member, Role } from '../../../protocol/types.ts';
import type { RoleRecord } from '../../../storage/records.ts';
import { CommandError, forbidden, notFound } from '../../command-error.ts';
import type { GuildContext } from '../guild-context.ts';
import { diff } from '../guild-events.ts';
import { toWireMember, toWireRole } from '../guild-views.ts';

/** A bitfield from a payload: a bad one is the caller's INVALID_PAYLOAD, never an INTERNAL error. */
function payloadBits(field: string, value: string): bigint {
  try {
    return parseBitfield(value);
  } catch {
    const reason = 'must be a decimal string bitfield of defined permissions';
    throw new CommandError(ErrorCode.INVALID_PAYLOAD, `${field} ${reason}`, { field, reason });
  }
}

function role(ctx: GuildContext, roleId: string): RoleRecord {
  const r = ctx.state.roles.get(roleId);
  if (!r) throw notFound(ErrorCode.UNKNOWN_ROLE, 'role');
  return r;
}

function requireAboveRole(ctx: GuildContext, userId: string, r: RoleRecord): void {
  if (!ctx.state.outranksRole(userId, r.position)) throw new CommandError(ErrorCode.HIERARCHY, 'role is not below your highest role');
}

/** Without ADMINISTRATOR you may not add permissions you lack; those the role already has may stay. */
function checkPermissionGrant(have: bigint, previous: bigint, next: bigint): void {
  if (has(have, ALL_PERMISSIONS)) return;
  if ((next & ~previous & ~have) !== 0n) throw new CommandError(ErrorCode.MISSING_PERMISSIONS, 'cannot grant permissions you do not have');
}

export async function createRole(ctx: GuildContext, userId: string, p: Payload<typeof Method.ROLE_CREATE>): Promise<Role> {
  const state = ctx.state;
  const have = ctx.require(userId, Permission.MANAGE_ROLES);
  checkPermissionGrant(have, 0n, payloadBits('permissions', p.permissions));
  // New roles go to the bottom (position 1); existing ones move up one.
  const shifted = [...state.roles.values()].filter((r) => r.position >= 1).map((r) => ({ id: r.id, position: r.position + 1 }));
  const created: RoleRecord = {
    id: ctx.deps.ids.next(), guildId: ctx.id, name: p.name, color: p.color, permissions: p.permissions,
    position: 1, mentionable: p.mentionable, hoist: p.hoist, createdAt: ctx.now(),
  };
  if (shifted.length > 0) await ctx.deps.guilds.updateRolePositions(ctx.id, shifted);
  await ctx.deps.guilds.createRole(created);
  for (const s of shifted) state.roles.set(s.id, { ...state.roles.get(s.id)!, position: s.position });
  state.roles.set(created.id, created);
  const events = [
    ...shifted.map((s) => ({ kind: 'role.update' as const, actorId: userId, reason: null, roleId: s.id, changes: [{ key: 'position', old: s.position - 1, new: s.position }], sideEffect: true })),
    { kind: 'role.create' as const, actorId: userId, reason: p.reason, role: created },
  ];
  ctx.publish(events);
  return toWireRole(created);
}

export async function updateRole(ctx: GuildContext, userId: string, p: Payload<typeof Method.ROLE_UPDATE>): Promise<Role> {
  const state = ctx.state;
  const have = ctx.require(userId, Permission.MANAGE_ROLES);
  const r = role(ctx, p.roleId);
  if (r.id !== ctx.id) requireAboveRole(ctx, userId, r);
  if (r.id === ctx.id && p.name !== undefined) throw forbidden('@everyone cannot be renamed');
  if (p.permissions !== undefined) checkPermissionGrant(have, parseBitfield(r.permissions), payloadBits('permissions', p.permissions));
  const patch = { name: p.name, color: p.color, permissions: p.permissions, mentionable: p.mentionable, hoist: p.hoist };
  const changes = diff(r, patch, ['name', 'color', 'permissions', 'mentionable', 'hoist']);
  if (changes.length > 0) {
    const applied = Object.fromEntries(changes.map((c) => [c.key, c.new]));
    await ctx.deps.guilds.updateRole(r.id, applied);
    const before = changes.some((c) => c.key === 'permissions') ? ctx.capture(state.holdersOf(r.id)) : undefined;
    state.roles.set(r.id, { ...r, ...applied });
    ctx.publish([{ kind: 'role.update', actorId: userId, reason: p.reason, roleId: r.id, changes }], before);
  }
  return toWireRole(state.roles.get(r.id)!);
}

export async function reorderRoles(ctx: GuildContext, userId: string, p: Payload<typeof Method.ROLE_REORDER>): Promise<Role[]> {
  const state = ctx.state;
  ctx.require(userId, Permission.MANAGE_ROLES);
  const top = state.topPosition(userId);
  const items = p.positions.map((item) => {
    const r = role(ctx, item.id);
    if (r.id === ctx.id) throw forbidden('@everyone cannot be moved');
    if (r.position >= top || item.position >= top) throw new CommandError(ErrorCode.HIERARCHY, 'roles can only be moved below your highest role');
    return { role: r, position: item.position };
  });
  await ctx.deps.guilds.updateRolePositions(ctx.id, items.map((i) => ({ id: i.role.id, position: i.position })));
  const events = [];
  for (const { role: r, position } of items) {
    if (r.position === position) continue;
    state.roles.set(r.id, { ...r, position });
    events.push({ kind: 'role.update' as const, actorId: userId, reason: null, roleId: r.id, changes: [{ key: 'position', old: r.position, new: position }] });
  }
  ctx.publish(events);
  return [...state.roles.values()].sort((a, b) => a.position - b.position).map(toWireRole);
}

export async function deleteRole(ctx: GuildContext, userId: string, p: Payload<typeof Method.ROLE_DELETE>): Promise<null> {
  const state = ctx.state;
  ctx.require(userId, Permission.MANAGE_ROLES);
  const r = role(ctx, p.roleId);
  if (r.id === ctx.id) throw forbidden('@everyone cannot be deleted');
  requireAboveRole(ctx, userId, r);
  await ctx.deps.guilds.deleteRole(r.id);
  const before = ctx.capture(state.holdersOf(r.id));
  state.roles.delete(r.id);
  for (const m of state.members.values()) if (m.roleIds.includes(r.id)) state.members.set(m.userId, { ...m, roleIds: m.roleIds.filter((id) => id !== r.id) });
  for (const map of state.overwrites.values()) map.delete(r.id);
  ctx.publish([{ kind: 'role.delete', actorId: userId, reason: p.reason, role: r }], before);
  return null;
}

export async function changeMemberRole(
  ctx: GuildContext, userId: string, p: Payload<typeof Method.MEMBER_ROLE_ADD>, add: boolean,
): Promise<Member> {
  const state = ctx.state;
  ctx.require(userId, Permission.MANAGE_ROLES);
  const r = role(ctx, p.roleId);
  if (r.id === ctx.id) throw forbidden('@everyone is implicit and cannot be assigned');
  requireAboveRole(ctx, userId, r);
  const member = ctx.requireMember(p.userId);
  const user = await ctx.user(p.userId);
  const holds = member.roleIds.includes(r.id);
  if (holds !== add) {
    if (add) await ctx.deps.guilds.addMemberRole(ctx.id, p.userId, r.id);
    else await ctx.deps.guilds.removeMemberRole(ctx.id, p.userId, r.id);
    const before = ctx.capture([p.userId]);
    state.members.set(p.userId, { ...member, roleIds: add ? [...member.roleIds, r.id] : member.roleIds.filter((id) => id !== r.id) });
    ctx.publish([{ kind: 'member.roles', actorId: userId, reason: p.reason, userId: p.userId, user, added: add ? [r.id] : [], removed: add ? [] : [r.id] }], before);
  }
  return toWireMember(state.members.get(p.userId)!, user);
}
