/**
 * Presence semantics, pure.
 *
 * - Each connection has a status: online, idle, dnd or invisible. `presence.set` sets it for every
 *   connection of the caller's login (auth session), so the tabs of one browser move together while
 *   two devices can differ. A new connection starts with the status its login's other connections
 *   have, else the user's last explicitly chosen status other than idle (default online).
 * - A user's status is the most available status among their connections, in the order
 *   online > idle > dnd > invisible (PRESENCE_STATUSES); with no connection it is offline — after
 *   the grace period (PRESENCE_GRACE_MS) that starts when the last connection closes.
 * - Everyone else sees invisible as offline; the user's own sessions see invisible. A custom status
 *   is shown with any status but offline (as seen by the viewer).
 */
import { PRESENCE_STATUSES, type PresenceStatus } from '../../protocol/opcodes.ts';
import type { Presence } from '../../protocol/types.ts';

export type SessionStatus = Exclude<PresenceStatus, 'offline'>;

const RANK: Readonly<Record<PresenceStatus, number>> = Object.fromEntries(PRESENCE_STATUSES.map((s, i) => [s, i])) as Record<PresenceStatus, number>;

export function isSessionStatus(v: unknown): v is SessionStatus {
  return v === 'online' || v === 'idle' || v === 'dnd' || v === 'invisible';
}

/** The most available of `statuses`; offline when there are none. */
export function aggregate(statuses: Iterable<SessionStatus>): PresenceStatus {
  let best: PresenceStatus = 'offline';
  for (const s of statuses) if (RANK[s] < RANK[best]) best = s;
  return best;
}

/** The status others see. */
export function visibleStatus(status: PresenceStatus): PresenceStatus {
  return status === 'invisible' ? 'offline' : status;
}

/** The custom status shown with `status` (none when it looks offline). */
export function visibleCustom(status: PresenceStatus, custom: string | null): string | null {
  return status === 'offline' ? null : custom;
}

/** `userId`'s presence as everyone but the user sees it (invisible → offline, no custom status then). */
export function presenceSeenByOthers(userId: string, status: PresenceStatus, custom: string | null): Presence {
  const seen = visibleStatus(status);
  return { userId, status: seen, customStatus: visibleCustom(seen, custom) };
}
