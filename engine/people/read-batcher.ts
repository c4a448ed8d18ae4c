/**
 * Shares reads between concurrent callers, group-commit style: the keys asked for while
 * `maxInFlight` reads are running (or within the same tick) are fetched together by the next
 * read, each key once. Every caller gets values read after its call was made; a failed read
 * rejects the callers whose keys it carried.
 */
interface Waiter<V> {
  values: Map<string, V>;
  remaining: number;
  failed: boolean;
  resolve(values: Map<string, V>): void;
  reject(err: unknown): void;
}

export class ReadBatcher<V> {
  private readonly queue = new Map<string, Waiter<V>[]>();
  private inFlight = 0;
  private scheduled = false;

  /** `fetch` resolves a value for every key it is given. */
  constructor(
    private readonly fetch: (keys: string[]) => Promise<Map<string, V>>,
    private readonly opts: { maxInFlight: number; maxBatch: number },
  ) {}

  /** The values of `keys` (keyed by key). */
  get(keys: readonly string[]): Promise<Map<string, V>> {
    const unique = new Set(keys);
    if (unique.size === 0) return Promise.resolve(new Map());
    return new Promise((resolve, reject) => {
      const w: Waiter<V> = { values: new Map(), remaining: unique.size, failed: false, resolve, reject };
      for (const key of unique) {
        const list = this.queue.get(key);
        if (list) list.push(w);
        else this.queue.set(key, [w]);
      }
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight || this.queue.size === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.size > 0) {
      const batch = new Map<string, Waiter<V>[]>();
      for (const [key, waiters] of this.queue) {
        if (batch.size >= this.opts.maxBatch) break;
        batch.set(key, waiters);
      }
      for (const key of batch.keys()) this.queue.delete(key);
      this.inFlight++;
      this.fetch([...batch.keys()]).then(
        (found) => {
          for (const [key, waiters] of batch) {
            for (const w of waiters) {
              if (w.failed) continue;
              w.values.set(key, found.get(key)!);
              if (--w.remaining === 0) w.resolve(w.values);
            }
          }
        },
        (err: unknown) => {
          for (const waiters of batch.values()) {
            for (const w of waiters) {
              if (w.failed) continue;
              w.failed = true;
              w.reject(err);
            }
          }
        },
      ).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }
}
