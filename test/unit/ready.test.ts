/**
 * buildReady's consistency rule for DMs: each listed DM comes from its actor together with the
 * stream position taken at the same moment (as guild snapshots do), so a change committed after
 * READY's database read is either in READY or after its position — never in neither.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildReady, type ReadyDeps } from '../../engine/gateway/ready.ts';
import type { DmRecord, ProfileRecord, ReadyRecord } from '../../storage/records.ts';

const profile = (id: string): ProfileRecord => ({ id, nickname: `u${id}`, displayName: null, bio: null, avatarUrl: null, createdAt: 0 });

describe('buildReady', () => {
  it('lists each DM as its actor holds it, with the position of that same moment', async () => {
    const stale: DmRecord = { id: '500', createdAt: 0, participantIds: ['1', '2'], lastMessageId: null, type: 3, name: 'old name', ownerId: '1' };
    const rec: ReadyRecord = {
      profile: profile('1'), email: 'u1@example.test', guildIds: [], dms: [stale], readStates: [], mutes: [], relationships: [],
      guildMemberIds: [], dmProfiles: [profile('1'), profile('2')],
    };
    // Renamed and joined by user 3 after the database read; the actor's position covers both events.
    const current: DmRecord = { ...stale, name: 'new name', participantIds: ['1', '2', '3'], lastMessageId: '900' };
    const asked: string[] = [];
    const deps = {
      loader: { load: async () => rec },
      router: {
        ask: async (kind: string, id: string) => {
          asked.push(`${kind}:${id}`);
          return kind === 'user' ? { epoch: 1, seq: 0 } : { dm: current, position: { epoch: 7, seq: 5 } };
        },
      },
      readyDmLimit: 10,
      profiles: { getMany: async (ids: readonly string[]) => ids.map(profile) },
      presence: { getMany: async () => new Map() },
      readyPresenceGuildLimit: 10,
    } as unknown as ReadyDeps;
    const { payload, topics } = await buildReady(deps, '1', 'sess');
    assert.deepEqual(asked.sort(), ['dm:500', 'user:1']);
    assert.equal(payload.dms.length, 1);
    assert.equal(payload.dms[0]!.name, 'new name');
    assert.equal(payload.dms[0]!.lastMessageId, '900');
    assert.deepEqual(payload.dms[0]!.recipients.map((u) => u.id), ['1', '2', '3'], 'the newcomer is there, with a profile read for it');
    assert.deepEqual(payload.streams['d:500'], { epoch: 7, seq: 5 });
    assert.ok(topics.includes('d:500'));
  });
});
