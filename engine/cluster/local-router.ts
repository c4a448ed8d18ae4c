import type { ActorSystem } from '../actors/actor-system.ts';
import type { ActorKind, Router } from './router.ts';

/** Single-node router: every actor lives in this process's ActorSystem. */
export class LocalRouter implements Router {
  constructor(private readonly system: ActorSystem) {}

  ask<R = unknown>(kind: ActorKind, id: string, command: unknown): Promise<R> {
    return this.system.ask<R>(kind, id, command);
  }
}
