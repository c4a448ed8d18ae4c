/**
 * The coordinator's side of the load generators: starts worker threads (TypeScript, loaded through
 * tsx's API because Node 20 does not pass loader hooks to workers), sends them commands, and
 * terminates them on every exit path. Worker `i` owns progress slot `i` of a shared buffer.
 */
import { Worker } from 'node:worker_threads';
import { onCleanup } from '../lib/children.ts';
import type { ConnSpec, Role } from './conn.ts';
import type { ConnectResult, WorkerCommand, WorkerSnapshot } from './worker-protocol.ts';

const WORKER_URL = new URL('./worker.ts', import.meta.url).href;

export class LoadWorker {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private dead: Error | null = null;

  constructor(readonly slot: number, private readonly worker: Worker) {
    worker.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(`load worker ${slot}: ${m.error}`));
    });
    const die = (err: Error) => {
      this.dead = err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', (err) => die(err instanceof Error ? err : new Error(String(err))));
    worker.on('exit', (code) => die(new Error(`load worker ${slot} exited (${code})`)));
  }

  call<T = unknown>(cmd: WorkerCommand): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, cmd });
    });
  }

  connect(specs: ConnSpec[], role: Role, concurrency = 256): Promise<ConnectResult> {
    return this.call<ConnectResult>({ op: 'connect', specs, role, concurrency });
  }

  snapshot(): Promise<WorkerSnapshot> {
    return this.call<WorkerSnapshot>({ op: 'snapshot' });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export class LoadPool {
  private readonly unregister: () => void;

  private constructor(readonly workers: LoadWorker[]) {
    this.unregister = onCleanup(() => {
      for (const w of workers) void w.terminate();
    });
  }

  /** Starts `count` workers and waits until each answers. */
  static async start(count: number): Promise<LoadPool> {
    const progress = new SharedArrayBuffer(8 * Math.max(1, count));
    const boot =
      `import('tsx/esm/api').then((m) => m.tsImport(${JSON.stringify(WORKER_URL)}, ${JSON.stringify(WORKER_URL)}))` +
      `.catch((e) => { console.error(e); process.exit(1); });`;
    const workers = Array.from({ length: count }, (_, slot) => new LoadWorker(slot, new Worker(boot, { eval: true, workerData: { slot, progress } })));
    const pool = new LoadPool(workers);
    try {
      await Promise.all(workers.map((w) => withTimeout(w.snapshot(), 30_000, `load worker ${w.slot} did not start`)));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  all<T = unknown>(cmd: WorkerCommand): Promise<T[]> {
    return Promise.all(this.workers.map((w) => w.call<T>(cmd)));
  }

  snapshots(): Promise<WorkerSnapshot[]> {
    return Promise.all(this.workers.map((w) => w.snapshot()));
  }

  /** Closes every connection, then terminates the threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => withTimeout(w.call({ op: 'close' }), 10_000, 'close timed out').catch(() => null)));
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.unregister();
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

/** Event-loop utilisation (0..1) of a worker between two snapshots. */
export function utilisation(a: WorkerSnapshot, b: WorkerSnapshot): number {
  const active = b.eluActive - a.eluActive;
  const total = active + (b.eluIdle - a.eluIdle);
  return total > 0 ? active / total : 0;
}

/** Splits `items` into `parts` nearly equal consecutive slices. */
export function split<T>(items: readonly T[], parts: number): T[][] {
  const out: T[][] = [];
  const size = Math.ceil(items.length / Math.max(1, parts));
  for (let i = 0; i < parts; i++) out.push(items.slice(i * size, (i + 1) * size));
  return out;
}
