/**
 * The pure permission computation (protocol/permissions.ts) against Discord's documented algorithm:
 * one scenario table, run by one loop. Every channel-level scenario is also re-run with its
 * overwrites in every order and with the member's roles reversed, which must never change the answer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ALL_PERMISSIONS, basePermissions, channelPermissions, DEFAULT_EVERYONE_PERMISSIONS, formatBitfield, has, parseBitfield,
  Permission as P, TIMEOUT_ALLOWED, type Overwrite, type PermissionName, type PermissionSubject,
} from '../../protocol/permissions.ts';

const GUILD = '100';
const OWNER = '200';
const ME = '300';
const OTHER = '301';
const [MOD, HELPER, MUTED, STRANGER] = ['401', '402', '403', '404'];

const V = P.VIEW_CHANNEL;
const S = P.SEND_MESSAGES;
const R = P.READ_MESSAGE_HISTORY;
const SEND_DEPENDENT = P.MENTION_EVERYONE | P.ATTACH_FILES | P.EMBED_LINKS;

interface Scenario {
  name: string;
  /** @everyone's permissions; DEFAULT_EVERYONE_PERMISSIONS unless given. */
  everyone?: bigint;
  /** The member's roles (id → permissions), in the order the subject lists them. */
  roles?: Record<string, bigint>;
  owner?: boolean;
  timedOut?: boolean;
  /** Absent: guild level (basePermissions); present: channel level (channelPermissions). */
  overwrites?: Overwrite[];
  /** Exact expected bitfield … */
  expect?: bigint;
  /** … or bits that must all be present / each be absent. */
  has?: bigint[];
  hasnt?: bigint[];
}

const everyoneOw = (allow: bigint, deny: bigint): Overwrite => ({ type: 'role', id: GUILD, allow, deny });
const roleOw = (id: string, allow: bigint, deny: bigint): Overwrite => ({ type: 'role', id, allow, deny });
const memberOw = (id: string, allow: bigint, deny: bigint): Overwrite => ({ type: 'member', id, allow, deny });

const SCENARIOS: Scenario[] = [
  // Owner bypass.
  { name: 'owner has every permission at guild level even when @everyone has none', everyone: 0n, owner: true, expect: ALL_PERMISSIONS },
  {
    name: 'owner keeps every permission in a channel that denies everything to @everyone, their roles and them',
    owner: true, roles: { [MOD]: 0n },
    overwrites: [everyoneOw(0n, ALL_PERMISSIONS), roleOw(MOD, 0n, ALL_PERMISSIONS), memberOw(ME, 0n, ALL_PERMISSIONS)],
    expect: ALL_PERMISSIONS,
  },
  { name: 'owner is immune to a timeout (guild level)', owner: true, timedOut: true, expect: ALL_PERMISSIONS },
  { name: 'owner is immune to a timeout (channel level, with a deny overwrite)', owner: true, timedOut: true, overwrites: [memberOw(ME, 0n, V | S)], expect: ALL_PERMISSIONS },

  // ADMINISTRATOR.
  { name: 'ADMINISTRATOR via @everyone grants everything', everyone: P.ADMINISTRATOR, expect: ALL_PERMISSIONS },
  { name: 'ADMINISTRATOR via a role grants everything', everyone: 0n, roles: { [MOD]: P.ADMINISTRATOR }, expect: ALL_PERMISSIONS },
  {
    name: 'ADMINISTRATOR via a role bypasses @everyone, role and member deny overwrites',
    roles: { [MOD]: P.ADMINISTRATOR, [HELPER]: 0n },
    overwrites: [everyoneOw(0n, V | S), roleOw(HELPER, 0n, ALL_PERMISSIONS), memberOw(ME, 0n, ALL_PERMISSIONS)],
    expect: ALL_PERMISSIONS,
  },
  { name: 'ADMINISTRATOR via @everyone bypasses a member deny of VIEW_CHANNEL', everyone: P.ADMINISTRATOR, overwrites: [memberOw(ME, 0n, V)], expect: ALL_PERMISSIONS },
  { name: 'ADMINISTRATOR is immune to a timeout (guild level)', roles: { [MOD]: P.ADMINISTRATOR }, timedOut: true, expect: ALL_PERMISSIONS },
  { name: 'ADMINISTRATOR is immune to a timeout (channel level)', roles: { [MOD]: P.ADMINISTRATOR }, timedOut: true, overwrites: [everyoneOw(0n, S)], expect: ALL_PERMISSIONS },
  { name: 'an overwrite cannot grant ADMINISTRATOR\'s bypass', everyone: V, overwrites: [memberOw(ME, P.ADMINISTRATOR, 0n)], hasnt: [S, R, P.MANAGE_CHANNELS] },

  // Guild level: @everyone and the OR of roles.
  { name: '@everyone alone is the base', expect: DEFAULT_EVERYONE_PERMISSIONS },
  { name: 'no permissions at all', everyone: 0n, expect: 0n },
  { name: 'roles are ORed with @everyone and each other', everyone: V, roles: { [MOD]: P.KICK_MEMBERS, [HELPER]: P.BAN_MEMBERS | V }, expect: V | P.KICK_MEMBERS | P.BAN_MEMBERS },
  { name: 'a role adds what @everyone lacks, including bits above 2^32', everyone: 0n, roles: { [MOD]: P.MODERATE_MEMBERS | P.PIN_MESSAGES }, expect: P.MODERATE_MEMBERS | P.PIN_MESSAGES },
  { name: 'guild level keeps SEND_MESSAGES dependents (the implicit denial is per channel)', everyone: V | P.EMBED_LINKS, expect: V | P.EMBED_LINKS },

  // Channel level: @everyone overwrite.
  { name: 'no overwrites: the channel inherits the base', overwrites: [], expect: DEFAULT_EVERYONE_PERMISSIONS },
  { name: '@everyone overwrite denies SEND (and with it its dependents)', overwrites: [everyoneOw(0n, S)], expect: DEFAULT_EVERYONE_PERMISSIONS & ~S & ~SEND_DEPENDENT },
  { name: '@everyone overwrite allows what the base lacks', everyone: V, overwrites: [everyoneOw(S | P.MANAGE_MESSAGES, 0n)], expect: V | S | P.MANAGE_MESSAGES },
  { name: '@everyone overwrite applies deny, then allow (allow wins on the same bit)', everyone: V | R, overwrites: [everyoneOw(S | R, R)], expect: V | S | R },

  // Role overwrites: combined, position-independent.
  {
    name: 'conflicting role overwrites: one allows SEND, another denies it → allowed',
    everyone: V, roles: { [MOD]: 0n, [HELPER]: 0n }, overwrites: [roleOw(MOD, S, 0n), roleOw(HELPER, 0n, S)], expect: V | S,
  },
  {
    name: 'conflicting role overwrites with the roles listed the other way round → still allowed',
    everyone: V, roles: { [HELPER]: 0n, [MOD]: 0n }, overwrites: [roleOw(HELPER, 0n, S), roleOw(MOD, S, 0n)], expect: V | S,
  },
  {
    name: 'conflicting role overwrites against a base that has SEND → allowed (deny does not beat allow)',
    roles: { [MOD]: 0n, [HELPER]: 0n }, overwrites: [roleOw(MOD, 0n, S), roleOw(HELPER, S, 0n)], has: [V, S, P.EMBED_LINKS],
  },
  { name: 'a role overwrite deny beats an @everyone overwrite allow', everyone: V, roles: { [MOD]: 0n }, overwrites: [everyoneOw(S, 0n), roleOw(MOD, 0n, S)], expect: V },
  { name: 'a role overwrite allow beats an @everyone overwrite deny', roles: { [MOD]: 0n }, overwrites: [everyoneOw(0n, S), roleOw(MOD, S, 0n)], has: [S, P.ATTACH_FILES] },
  {
    name: 'a role overwrite allow restores VIEW_CHANNEL denied to @everyone',
    everyone: V | S, roles: { [MOD]: 0n }, overwrites: [everyoneOw(0n, V), roleOw(MOD, V, 0n)], expect: V | S,
  },
  { name: 'a role overwrite deny of VIEW_CHANNEL hides the channel', roles: { [MOD]: P.MANAGE_MESSAGES }, overwrites: [roleOw(MOD, 0n, V)], expect: 0n },
  { name: 'an overwrite for a role the member lacks is ignored (deny)', roles: { [MOD]: 0n }, overwrites: [roleOw(HELPER, 0n, V | S)], expect: DEFAULT_EVERYONE_PERMISSIONS },
  { name: 'an overwrite for a role the member lacks is ignored (allow)', everyone: V, overwrites: [roleOw(HELPER, S | P.MANAGE_MESSAGES, 0n)], expect: V },

  // Member overwrites: last word.
  { name: 'member overwrite allow beats a role overwrite deny', everyone: V, roles: { [MOD]: 0n }, overwrites: [roleOw(MOD, 0n, S), memberOw(ME, S, 0n)], expect: V | S },
  { name: 'member overwrite deny beats a role overwrite allow', everyone: V, roles: { [MOD]: 0n }, overwrites: [roleOw(MOD, S | R, 0n), memberOw(ME, 0n, S)], expect: V | R },
  {
    name: 'member overwrite deny of VIEW_CHANNEL hides everything, whatever roles allow',
    roles: { [MOD]: P.MANAGE_CHANNELS | P.MANAGE_MESSAGES }, overwrites: [roleOw(MOD, ALL_PERMISSIONS & ~P.ADMINISTRATOR, 0n), memberOw(ME, 0n, V)], expect: 0n,
  },
  { name: 'member overwrite allow of VIEW_CHANNEL beats @everyone and role denies', everyone: S, roles: { [MOD]: 0n }, overwrites: [everyoneOw(0n, V), roleOw(MOD, 0n, V), memberOw(ME, V, 0n)], expect: V | S },
  { name: 'another member\'s overwrite is ignored', overwrites: [memberOw(OTHER, 0n, V)], expect: DEFAULT_EVERYONE_PERMISSIONS },

  // Implicit denials.
  { name: 'no VIEW_CHANNEL in the base → nothing in the channel', everyone: S | R | P.MANAGE_MESSAGES, overwrites: [], expect: 0n },
  { name: '@everyone overwrite deny of VIEW_CHANNEL → nothing, even with allows elsewhere', overwrites: [everyoneOw(S, V)], expect: 0n },
  { name: 'without SEND_MESSAGES, MENTION_EVERYONE, ATTACH_FILES and EMBED_LINKS are void', everyone: V | R | SEND_DEPENDENT | P.ADD_REACTIONS, overwrites: [], expect: V | R | P.ADD_REACTIONS },
  { name: 'SEND_MESSAGES denied by a role overwrite voids its dependents but nothing else', roles: { [MOD]: P.MANAGE_MESSAGES }, overwrites: [roleOw(MOD, 0n, S)], has: [V, R, P.ADD_REACTIONS, P.MANAGE_MESSAGES], hasnt: [S, ...[P.MENTION_EVERYONE, P.ATTACH_FILES, P.EMBED_LINKS]] },

  // Overwrite order in the array.
  { name: 'a member overwrite listed first is still applied last', everyone: V, overwrites: [memberOw(ME, 0n, S), everyoneOw(S, 0n)], expect: V },
  { name: 'a role overwrite listed before the @everyone one is still applied after it', everyone: V, roles: { [MOD]: 0n }, overwrites: [roleOw(MOD, S, 0n), everyoneOw(0n, S)], expect: V | S },

  // Timeouts.
  { name: 'timeout at guild level keeps only VIEW_CHANNEL and READ_MESSAGE_HISTORY', timedOut: true, expect: TIMEOUT_ALLOWED },
  { name: 'timeout strips moderator permissions of a non-admin role', roles: { [MUTED]: P.MODERATE_MEMBERS | P.KICK_MEMBERS | P.MANAGE_MESSAGES }, timedOut: true, expect: V | R },
  { name: 'timeout in a channel wins over a member overwrite allowing SEND', timedOut: true, overwrites: [memberOw(ME, S | P.MANAGE_MESSAGES, 0n)], expect: V | R },
  { name: 'timeout does not grant what the channel denies (READ)', timedOut: true, overwrites: [everyoneOw(0n, R)], expect: V },
  { name: 'timeout does not grant view of a hidden channel', timedOut: true, overwrites: [everyoneOw(0n, V)], expect: 0n },
  { name: 'timeout never adds VIEW/READ the member lacked at guild level', everyone: S, roles: { [STRANGER]: 0n }, timedOut: true, expect: 0n },
];

function subject(s: Scenario): PermissionSubject {
  const roles = Object.entries(s.roles ?? {});
  return {
    guildId: GUILD,
    ownerId: s.owner ? ME : OWNER,
    userId: ME,
    everyone: s.everyone ?? DEFAULT_EVERYONE_PERMISSIONS,
    rolePermissions: roles.map(([, bits]) => bits),
    roleIds: new Set(roles.map(([id]) => id)),
    timedOut: s.timedOut ?? false,
  };
}

function compute(s: Scenario, sub = subject(s), overwrites = s.overwrites): bigint {
  return overwrites === undefined ? basePermissions(sub) : channelPermissions(sub, overwrites);
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

const names = (bits: bigint) => (Object.entries(P) as [PermissionName, bigint][]).filter(([, b]) => (bits & b) !== 0n).map(([n]) => n);

describe('permission scenarios', () => {
  it('has at least 35 scenarios', () => assert.ok(SCENARIOS.length >= 35, `only ${SCENARIOS.length}`));

  for (const s of SCENARIOS) {
    it(`${s.overwrites === undefined ? 'guild' : 'channel'}: ${s.name}`, () => {
      assert.ok(s.expect !== undefined || s.has || s.hasnt, 'a scenario must expect something');
      const got = compute(s);
      if (s.expect !== undefined) assert.deepEqual(names(got), names(s.expect), `got ${got}, expected ${s.expect}`);
      if (s.expect !== undefined) assert.equal(got, s.expect);
      for (const bit of s.has ?? []) assert.ok(has(got, bit), `expected ${names(bit)} in ${names(got)}`);
      for (const bit of s.hasnt ?? []) assert.ok(!has(got, bit), `did not expect ${names(bit)} in ${names(got)}`);

      if (s.overwrites === undefined) return;
      // Neither the order of the overwrites nor the order of the member's roles may matter.
      const reversedRoles = subject({ ...s, roles: Object.fromEntries(Object.entries(s.roles ?? {}).reverse()) });
      for (const order of permutations(s.overwrites)) {
        assert.equal(compute(s, subject(s), order), got, 'overwrite order changed the result');
        assert.equal(compute(s, reversedRoles, order), got, 'role order changed the result');
      }
    });
  }
});

describe('bit positions', () => {
  it('are Discord\'s, for every permission the protocol defines', () => {
    const positions: Record<PermissionName, number> = {
      CREATE_INSTANT_INVITE: 0, KICK_MEMBERS: 1, BAN_MEMBERS: 2, ADMINISTRATOR: 3, MANAGE_CHANNELS: 4, MANAGE_GUILD: 5,
      ADD_REACTIONS: 6, VIEW_AUDIT_LOG: 7, VIEW_CHANNEL: 10, SEND_MESSAGES: 11, MANAGE_MESSAGES: 13, EMBED_LINKS: 14,
      ATTACH_FILES: 15, READ_MESSAGE_HISTORY: 16, MENTION_EVERYONE: 17, CHANGE_NICKNAME: 26, MANAGE_NICKNAMES: 27,
      MANAGE_ROLES: 28, MODERATE_MEMBERS: 40, PIN_MESSAGES: 51,
    };
    assert.deepEqual(Object.keys(P).sort(), Object.keys(positions).sort());
    for (const [name, pos] of Object.entries(positions) as [PermissionName, number][]) assert.equal(P[name], 1n << BigInt(pos), name);
  });

  it('have the exact values Discord documents', () => {
    assert.equal(P.ADMINISTRATOR, 8n);
    assert.equal(P.VIEW_CHANNEL, 1024n);
    assert.equal(P.SEND_MESSAGES, 2048n);
    assert.equal(P.MANAGE_ROLES, 268435456n);
    assert.equal(P.MODERATE_MEMBERS, 1n << 40n);
    assert.equal(P.MODERATE_MEMBERS, 1099511627776n);
    assert.equal(P.PIN_MESSAGES, 1n << 51n);
    assert.equal(P.PIN_MESSAGES, 2251799813685248n);
  });

  it('ALL_PERMISSIONS is exactly the defined bits, the timeout mask is view and read', () => {
    assert.equal(ALL_PERMISSIONS, Object.values(P).reduce((a, b) => a | b, 0n));
    assert.equal(ALL_PERMISSIONS.toString(2).split('1').length - 1, 20);
    assert.equal(TIMEOUT_ALLOWED, V | R);
  });
});

describe('parseBitfield / formatBitfield', () => {
  it('round-trips canonical decimal strings, including bits above 2^53', () => {
    for (const bits of [0n, V, P.PIN_MESSAGES | V, ALL_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS]) {
      const wire = formatBitfield(bits);
      assert.match(wire, /^(0|[1-9][0-9]*)$/);
      assert.equal(parseBitfield(wire), bits);
    }
    assert.equal(formatBitfield(P.PIN_MESSAGES | P.SEND_MESSAGES), '2251799813687296');
    assert.equal(parseBitfield('2251799813687296'), P.PIN_MESSAGES | P.SEND_MESSAGES);
  });

  it('rejects non-canonical and non-decimal forms', () => {
    for (const bad of ['', ' 1024', '1024 ', '01024', '00', '-1024', '+1024', '1024.0', '1e3', '0x400', '1_024', 'abc', '１０２４']) {
      assert.throws(() => parseBitfield(bad), RangeError, JSON.stringify(bad));
    }
  });

  it('rejects undefined bits', () => {
    for (const bad of [1n << 8n, 1n << 9n, 1n << 12n, 1n << 41n, 1n << 63n, 1n << 64n, ALL_PERMISSIONS | (1n << 30n)]) {
      assert.throws(() => parseBitfield(bad.toString()), RangeError, bad.toString());
    }
    assert.throws(() => parseBitfield('99999999999999999999'), RangeError);
    assert.throws(() => parseBitfield('123456789012345678901'), RangeError);
  });
});
