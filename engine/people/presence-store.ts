/**
 * Presence state in the ephemeral store (Redis in production), so any node can read it:
 *
 *   presence:sessions:<userId>   hash  "<loginId>.<nodeId>.<connectionId>" → connection status
 *   presence:user:<userId>       hash  status (aggregate, incl. invisible/offline), custom (custom
 *                                      status text, absent = none), preferred (status for new logins)
 *   presence:node:<nodeId>       string, TTL: the node is alive (refreshed by PresenceNode)
 *   presence:nodes               set of node ids that ever held connections
 *   presence:node-users:<nodeId> set of users with connections on that node
 *
 * Only a user's UserActor writes that user's keys, so read-modify-write is safe. A connection of a
 * node whose heartbeat key expired (the node crashed) is ignored and removed when that user's
 * presence is next computed; PresenceNode's janitor makes that happen for every user of a dead node.
 */
import type { PresenceStatus } from '../../protocol/opcodes.ts';
import type { EphemeralStore } from '../../storage/ephemeral/ephemeral-store.ts';
import { isSessionStatus, type SessionStatus } from './presence-model.ts';
import { ReadBatcher } from './read-batcher.ts';

export interface StoredSession {
  field: string;
  loginId: string;
  nodeId: string;
  status: SessionStatus;
}

export interface StoredPresence {
  status: PresenceStatus;
  custom: string | null;
  preferred: SessionStatus | null;
}

const PRESENCE_FIELDS = ['status', 'custom', 'preferred'];

const OFFLINE: StoredPresence = { status: 'offline', custom: null, preferred: null };

export const presenceKeys = {
  sessions: (userId: string) => `presence:sessions:${userId}`,
  user: (userId: string) => `presence:user:${userId}`,
  node: (nodeId: string) => `presence:node:${nodeId}`,
  nodes: 'presence:nodes',
  nodeUsers: (nodeId: string) => `presence:node-users:${nodeId}`,
};

function parsePresence(h: Record<string, string>): StoredPresence {
  const status = h.status;
  return {
    status: status === 'offline' || isSessionStatus(status) ? status : 'offline',
    custom: h.custom ?? null,
    preferred: isSessionStatus(h.preferred) ? h.preferred : null,
  };
}

/** The connections of a presence:sessions hash (malformed fields are skipped). */
function parseSessions(h: Record<string, string>): StoredSession[] {
  const out: StoredSession[] = [];
  for (const [field, status] of Object.entries(h)) {
    const [loginId, nodeId] = field.split('.');
    if (loginId && nodeId && isSessionStatus(status)) out.push({ field, loginId, nodeId, status });
  }
  return out;
}

export class PresenceStore {
  constructor(readonly kv: EphemeralStore) {}

  static field(loginId: string, nodeId: string, connectionId: number | string): string {
    return `${loginId}.${nodeId}.${connectionId}`;
  }

  async sessions(userId: string): Promise<StoredSession[]> {
    return parseSessions(await this.kv.hGetAll(presenceKeys.sessions(userId)));
  }

  /** sessions() and get() of one user in one round trip. */
  async state(userId: string): Promise<{ sessions: StoredSession[]; stored: StoredPresence }> {
    const [sessions, user] = await this.kv.hGetAllMany([presenceKeys.sessions(userId), presenceKeys.user(userId)]);
    return { sessions: parseSessions(sessions!), stored: Object.keys(user!).length === 0 ? OFFLINE : parsePresence(user!) };
  }

  async setSessions(userId: string, entries: Readonly<Record<string, SessionStatus>>): Promise<void> {
    if (Object.keys(entries).length > 0) await this.kv.hSet(presenceKeys.sessions(userId), entries);
  }

  async deleteSessions(userId: string, fields: readonly string[]): Promise<void> {
    if (fields.length > 0) await this.kv.hDel(presenceKeys.sessions(userId), ...fields);
  }

  async get(userId: string): Promise<StoredPresence> {
    const h = await this.kv.hGetAll(presenceKeys.user(userId));
    return Object.keys(h).length === 0 ? OFFLINE : parsePresence(h);
  }

  async put(userId: string, p: StoredPresence): Promise<void> {
    const fields: Record<string, string> = { status: p.status };
    if (p.preferred) fields.preferred = p.preferred;
    if (p.custom !== null) fields.custom = p.custom;
    await this.kv.hSet(presenceKeys.user(userId), fields);
    if (p.custom === null) await this.kv.hDel(presenceKeys.user(userId), 'custom');
  }

  /**
   * Presences of many users (offline for unknown ones), in one round trip. Concurrent calls (the
   * IDENTIFYs of a reconnect storm watch mostly the same users) share reads: each user is read
   * once per batch, after the call was made.
   */
  getMany(userIds: readonly string[]): Promise<Map<string, StoredPresence>> {
    return this.reads.get(userIds);
  }

  private readonly reads = new ReadBatcher<StoredPresence>(async (userIds) => {
    const rows = await this.kv.hMGetMany(userIds.map((id) => presenceKeys.user(id)), PRESENCE_FIELDS);
    return new Map(userIds.map((id, i) => {
      const h: Record<string, string> = {};
      PRESENCE_FIELDS.forEach((f, j) => {
        const v = rows[i]![j];
        if (v !== null && v !== undefined) h[f] = v;
      });
      return [id, Object.keys(h).length === 0 ? OFFLINE : parsePresence(h)];
    }));
  }, { maxInFlight: 2, maxBatch: 1000 });

  async isNodeAlive(nodeId: string): Promise<boolean> {
    return (await this.kv.get(presenceKeys.node(nodeId))) !== null;
  }
}
