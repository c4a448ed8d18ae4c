/**
 * Group commit: concurrent writes share one multi-row INSERT and one COMMIT, so the number of
 * commits (and fsyncs) per second stays bounded while throughput grows with load. Used for
 * messages (the hot path) and audit log entries.
 */
import type { Logger } from 'pino';
import { toStorageError } from './pg-errors.ts';

export interface GroupCommitOptions {
  /** Most rows per insertMany call (default 1000); a longer queue is written in several batches. */
  maxBatch?: number;
  /**
   * insertMany calls in flight at once (default 1). With 2, the next batch is sent while the
   * previous one commits, so throughput is not bounded by one commit round trip per batch; results
   * still settle in write() order.
   */
  maxInFlight?: number;
  logger?: Logger;
}

interface Pending<T, R> {
  row: T;
  seq: number;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

/** Raised by write() after close(). */
export class WriterClosedError extends Error {
  constructor(what: string) {
    super(`${what} writer is closed`);
    this.name = 'WriterClosedError';
  }
}

/**
 * Batches rows into `insertMany` calls with these guarantees:
 * - write() resolves only after the COMMIT that contains its row, and rejects with that batch's
 *   error otherwise (StorageUnavailableError for connection problems): no row is dropped silently;
 * - at most `maxInFlight` insertMany calls are in flight; rows written meanwhile form the next batch;
 * - a write made while idle is flushed on the next setImmediate, so writes of the same tick share
 *   a batch;
 * - batches are started, and settle, in write() order, so per-channel order is preserved (with
 *   more than one in flight, a later batch may COMMIT first; its write()s still resolve after the
 *   earlier batch's);
 * - a failed batch does not stop the writer: the next batch is attempted.
 */
export class GroupCommitWriter<T, R = void> {
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private readonly logger: Logger | undefined;
  private queue: Pending<T, R>[] = [];
  private inFlight = 0;
  /** Settles after the most recently started batch has settled. */
  private lastSettled: Promise<void> = Promise.resolve();
  private scheduled = false;
  private closed = false;
  private enqueued = 0;
  private settled = 0;
  private flushWaiters: Array<{ seq: number; resolve: () => void }> = [];

  /**
   * `insertMany` must write all rows in one transaction and resolve after COMMIT, optionally with
   * one result per row (in order), which becomes that row's write() result.
   */
  constructor(
    private readonly what: string,
    private readonly insertMany: (rows: readonly T[]) => Promise<readonly R[] | void>,
    opts: GroupCommitOptions = {},
  ) {
    const maxBatch = opts.maxBatch ?? 1000;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError('maxBatch must be a positive integer');
    this.maxBatch = maxBatch;
    const maxInFlight = opts.maxInFlight ?? 1;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError('maxInFlight must be a positive integer');
    this.maxInFlight = maxInFlight;
    this.logger = opts.logger;
  }

  /** Enqueues `row`; resolves after the COMMIT containing it, rejects if that batch failed. */
  write(row: T): Promise<R> {
    if (this.closed) return Promise.reject(new WriterClosedError(this.what));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ row, seq: ++this.enqueued, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once every row written before this call is committed or failed. Never rejects. */
  flush(): Promise<void> {
    const target = this.enqueued;
    if (this.settled >= target) return Promise.resolve();
    return new Promise<void>((resolve) => this.flushWaiters.push({ seq: target, resolve }));
  }

  /** Refuses further writes, then waits for the queued ones as flush() does. */
  close(): Promise<void> {
    this.closed = true;
    return this.flush();
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight) return; // a finishing batch starts the next
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.startBatches();
    });
  }

  /** Starts batches from the queue while fewer than maxInFlight are running. */
  private startBatches(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
      this.queue = this.queue.length <= this.maxBatch ? [] : this.queue.slice(this.maxBatch);
      this.inFlight++;
      const written = this.write1(batch);
      const previous = this.lastSettled;
      this.lastSettled = (async () => {
        const outcome = await written;
        await previous;
        this.settle(batch, outcome);
        this.inFlight--;
        this.startBatches();
      })();
    }
  }

  private async write1(batch: Pending<T, R>[]): Promise<{ failed: false; results: readonly R[] | void } | { failed: true; error: unknown }> {
    try {
      return { failed: false, results: await this.insertMany(batch.map((p) => p.row)) };
    } catch (err) {
      const error = toStorageError(err);
      this.logger?.error({ err: error, rows: batch.length }, `${this.what} batch failed`);
      return { failed: true, error };
    }
  }

  private settle(batch: Pending<T, R>[], outcome: Awaited<ReturnType<GroupCommitWriter<T, R>['write1']>>): void {
    batch.forEach((p, i) => {
      if (outcome.failed) p.reject(outcome.error);
      else p.resolve(outcome.results ? outcome.results[i]! : (undefined as R));
    });
    this.settled = batch[batch.length - 1]!.seq;
    this.releaseFlushWaiters();
  }

  private releaseFlushWaiters(): void {
    if (this.flushWaiters.length === 0) return;
    const still: typeof this.flushWaiters = [];
    for (const w of this.flushWaiters) {
      if (w.seq <= this.settled) w.resolve();
      else still.push(w);
    }
    this.flushWaiters = still;
  }
}
