/**
 * Actor runtime. An actor is addressed by (kind, id), owns its state, and handles the commands of
 * its mailbox one at a time, in arrival order. A command that throws fails only itself. Idle
 * actors sit in an LRU (bounded count and idle time) and are rehydrated from storage on next use;
 * an actor with queued or running work is never evicted.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { Clock } from '../../protocol/ids.ts';

/** What an actor kind implements. */
export interface Behaviour<C = unknown> {
  /**
   * Handles one command. The mailbox waits for the returned promise before the next command,
   * unless the handler returns `later(promise)`: then the decision is complete, the mailbox moves
   * on, and the caller's reply waits for that promise (used to pipeline commits).
   */
  handle(command: C): unknown;
  /** True when the actor holds nothing worth keeping (e.g. an id that does not exist yet). */
  isVacant?(): boolean;
  /** Called once when the runtime drops the actor. */
  onEvict?(): void;
}

/** Creates the behaviour for an id, typically by loading its state from storage. */
export type ActorFactory<C> = (id: string) => Promise<Behaviour<C>>;

const LATER = Symbol('later');
export interface Later<T> {
  readonly [LATER]: Promise<T>;
}
/** Marks a reply that completes after the mailbox has moved on. */
export function later<T>(promise: Promise<T>): Later<T> {
  return { [LATER]: promise };
}
function isLater(v: unknown): v is Later<unknown> {
  return typeof v === 'object' && v !== null && LATER in v;
}

interface Envelope {
  command: unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

class Cell {
  behaviour: Behaviour | null = null;
  readonly queue: Envelope[] = [];
  running = false;
  constructor(readonly key: string) {}
}

export interface ActorSystemOptions {
  /** Idle actors kept in memory at most. */
  maxIdle: number;
  /** An idle actor is dropped after this long without a command. */
  idleMs: number;
  clock: Clock;
  logger: Logger;
}

export class ActorSystem {
  private readonly factories = new Map<string, ActorFactory<any>>();
  /** Actors with queued or running commands. */
  private readonly busy = new Map<string, Cell>();
  /** Hydrated actors with empty mailboxes; only these can be evicted. */
  private readonly idle: LRUCache<string, Cell>;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly opts: ActorSystemOptions) {
    this.idle = new LRUCache<string, Cell>({
      max: opts.maxIdle,
      ttl: opts.idleMs,
      perf: opts.clock,
      updateAgeOnGet: false,
      dispose: (cell, _key, reason) => {
        if (reason === 'evict' || reason === 'expire') this.drop(cell);
      },
    });
    this.sweeper = setInterval(() => this.idle.purgeStale(), Math.max(1000, Math.min(opts.idleMs, 60_000)));
    this.sweeper.unref();
  }

  register<C>(kind: string, factory: ActorFactory<C>): void {
    this.factories.set(kind, factory);
  }

  /** Sends a command to the actor (kind, id), hydrating it first if needed; resolves with its reply. */
  ask<R = unknown>(kind: string, id: string, command: unknown): Promise<R> {
    const key = `${kind}:${id}`;
    let cell = this.busy.get(key);
    if (!cell) {
      cell = this.idle.get(key) ?? new Cell(key);
      this.idle.delete(key);
      this.busy.set(key, cell);
    }
    return new Promise<R>((resolve, reject) => {
      cell.queue.push({ command, resolve: resolve as (v: unknown) => void, reject });
      if (!cell.running) void this.run(cell, kind, id);
    });
  }

  /** Number of actors in memory (busy and idle). */
  get size(): number {
    return this.busy.size + this.idle.size;
  }

  /** Drops every idle actor; busy ones finish their mailbox first. */
  clear(): void {
    this.idle.clear();
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const cell of this.idle.values()) this.drop(cell);
    this.idle.clear();
  }

  private async run(cell: Cell, kind: string, id: string): Promise<void> {
    cell.running = true;
    try {
      if (!cell.behaviour) {
        const factory = this.factories.get(kind);
        try {
          if (!factory) throw new Error(`no actor kind '${kind}'`);
          cell.behaviour = await factory(id);
        } catch (err) {
          // Hydration failed: fail what is queued now and forget the cell, so the next ask retries.
          for (const env of cell.queue.splice(0)) env.reject(err);
          this.busy.delete(cell.key);
          return;
        }
      }
      const behaviour = cell.behaviour;
      let env: Envelope | undefined;
      while ((env = cell.queue.shift())) {
        try {
          const result = await behaviour.handle(env.command);
          if (isLater(result)) result[LATER].then(env.resolve, env.reject);
          else env.resolve(result);
        } catch (err) {
          env.reject(err);
        }
      }
      this.busy.delete(cell.key);
      if (behaviour.isVacant?.()) this.drop(cell);
      else this.idle.set(cell.key, cell);
    } finally {
      cell.running = false;
    }
  }

  private drop(cell: Cell): void {
    try {
      cell.behaviour?.onEvict?.();
    } catch (err) {
      this.opts.logger.error({ err, actor: cell.key }, 'onEvict failed');
    }
    cell.behaviour = null;
  }
}
