/**
 * This process's part in presence: it turns connection open/close into commands for the users'
 * actors, keeps a heartbeat key that says it is alive, and runs a janitor that, when another node
 * stopped beating (crashed), asks the actors of that node's users to recompute their presence
 * without its connections (they go offline after the usual grace period unless they reconnected).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Router } from '../cluster/router.ts';
import type { SessionStatus } from './presence-model.ts';
import type { Caller } from '../gateway/command-table.ts';
import type { UserCommand } from '../user/user-commands.ts';
import { PresenceStore, presenceKeys } from './presence-store.ts';

export interface PresenceNodeOptions {
  store: PresenceStore;
  router: Router;
  logger: Logger;
  /** How often the heartbeat key is refreshed; it expires after 3 intervals. Default 10 s. */
  heartbeatMs?: number;
}

export class PresenceNode {
  /** Random per process: connections of an earlier run of this node are never mistaken for live ones. */
  readonly nodeId = randomBytes(9).toString('base64url');
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private readonly heartbeatMs: number;

  constructor(private readonly opts: PresenceNodeOptions) {
    this.heartbeatMs = opts.heartbeatMs ?? 10_000;
  }

  async start(): Promise<void> {
    await this.beat();
    await this.opts.store.kv.sAdd(presenceKeys.nodes, this.nodeId);
    this.timer = setInterval(() => {
      this.beat()
        .then(() => this.sweep())
        .catch((err) => this.opts.logger.warn({ err }, 'presence heartbeat failed'));
    }, this.heartbeatMs);
    this.timer.unref();
  }

  readonly onSessionOpen = (caller: Caller, connectionId: number, status?: SessionStatus): void => {
    if (this.closing) return;
    const field = PresenceStore.field(caller.sessionId, this.nodeId, connectionId);
    this.send(caller.userId, { type: 'presence.open', field, loginId: caller.sessionId, ...(status ? { status } : {}) });
  };

  readonly onSessionClose = (caller: Caller, connectionId: number): void => {
    // During shutdown the connections stay listed: they belong to a node that is about to stop
    // beating, so they stop counting as soon as a client reconnects elsewhere (no flapping), and
    // the janitor of the next node to run turns the rest offline.
    if (this.closing) return;
    this.send(caller.userId, { type: 'presence.close', field: PresenceStore.field(caller.sessionId, this.nodeId, connectionId) });
  };

  /** Finds nodes whose heartbeat expired and has their users' presence recomputed. */
  async sweep(): Promise<void> {
    const kv = this.opts.store.kv;
    for (const node of await kv.sMembers(presenceKeys.nodes)) {
      if (node === this.nodeId || (await this.opts.store.isNodeAlive(node))) continue;
      for (const userId of await kv.sMembers(presenceKeys.nodeUsers(node))) this.send(userId, { type: 'presence.recheck' });
      await kv.del(presenceKeys.nodeUsers(node));
      await kv.sRem(presenceKeys.nodes, node);
    }
  }

  /** Stops beating and ignores further closes; the heartbeat key is removed so the node counts as gone at once. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    await this.opts.store.kv.del(presenceKeys.node(this.nodeId)).catch(() => 0);
  }

  private beat(): Promise<boolean> {
    return this.opts.store.kv.set(presenceKeys.node(this.nodeId), String(Date.now()), { ttlMs: this.heartbeatMs * 3 });
  }

  private send(userId: string, cmd: UserCommand): void {
    this.opts.router.ask('user', userId, cmd).catch((err) => this.opts.logger.warn({ err, userId, cmd: cmd.type }, 'presence update failed'));
  }
}
