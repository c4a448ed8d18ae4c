/**
 * How commands reach actors. Callers never hold an actor: they name it by (kind, id) and the router
 * delivers the command to wherever that actor lives (this process for the local router; the owning
 * node for a clustered one).
 */
export type ActorKind = 'guild' | 'dm' | 'user';

export interface Router {
  /** Delivers `command` to actor (kind, id); resolves with its reply or rejects with its error. */
  ask<R = unknown>(kind: ActorKind, id: string, command: unknown): Promise<R>;
}
