/**
 * Keeps live sockets honest about their session. When a session is revoked on this node, its
 * sockets are closed at once with SESSION_REVOKED (not resumable). Every `recheckMs`, the sessions
 * of all identified sockets are checked against the database, which catches revocations made on
 * other nodes (or missed while this node was busy); a database failure skips the round rather than
 * closing anyone.
 */
import type { Logger } from 'pino';
import { CloseCode } from '../../protocol/opcodes.ts';
import type { AuthService } from './auth-service.ts';

export interface SessionSockets {
  /** Closes the connections of authentication session `sessionId`; returns how many. */
  closeAuthSession(sessionId: string, code: number, reason: string): number;
  /** Authentication sessions of the identified connections. */
  authSessionIds(): Set<string>;
}

export class SessionGuard {
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private running = false;

  constructor(private readonly auth: AuthService, private readonly sockets: SessionSockets, private readonly opts: { recheckMs: number; logger: Logger }) {
    this.unsubscribe = auth.onRevoked((ids, reason) => {
      let closed = 0;
      for (const id of ids) closed += sockets.closeAuthSession(id, CloseCode.SESSION_REVOKED, 'session revoked');
      if (closed > 0) opts.logger.info({ sessions: ids, closed, reason }, 'closed sockets of revoked sessions');
    });
    this.timer = setInterval(() => void this.recheck(), opts.recheckMs);
    this.timer.unref();
  }

  /** Closes sockets whose session is no longer live in the database. Resolves how many were closed. */
  async recheck(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const ids = [...this.sockets.authSessionIds()];
      if (ids.length === 0) return 0;
      const live = await this.auth.liveSessionIds(ids);
      let closed = 0;
      for (const id of ids) if (!live.has(id)) closed += this.sockets.closeAuthSession(id, CloseCode.SESSION_REVOKED, 'session revoked');
      if (closed > 0) this.opts.logger.info({ closed }, 'closed sockets of sessions revoked elsewhere');
      return closed;
    } catch (err) {
      this.opts.logger.warn({ err }, 'session re-check failed; will retry');
      return 0;
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.unsubscribe();
  }
}
