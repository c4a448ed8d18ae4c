/**
 * A connection's command budget: a token bucket kept on the connection itself (the connection
 * lives on one node, so a shared store would only add a round trip and could reorder commands).
 * Over budget, a command is refused with ERROR RATE_LIMITED; a client that keeps sending while
 * refused — more than `closeAfterRejected` refusals without one accepted command in between — is
 * flooding, and the connection is closed with CloseCode.RATE_LIMITED.
 */
import { LocalTokenBucket, type TokenBucketSpec } from '../../storage/ephemeral/token-bucket.ts';

export interface CommandBudgetSpec extends TokenBucketSpec {
  /** Consecutive refused commands after which the connection is closed. */
  closeAfterRejected: number;
}

export type BudgetVerdict = { ok: true } | { ok: false; retryAfterMs: number; close: boolean };

const OK: BudgetVerdict = Object.freeze({ ok: true });

export class CommandBudget {
  private readonly bucket: LocalTokenBucket;
  private rejectedInARow = 0;

  constructor(private readonly spec: CommandBudgetSpec) {
    this.bucket = new LocalTokenBucket(spec);
  }

  take(now: number): BudgetVerdict {
    const r = this.bucket.take(now);
    if (r.allowed) {
      this.rejectedInARow = 0;
      return OK;
    }
    this.rejectedInARow++;
    return { ok: false, retryAfterMs: r.retryAfterMs, close: this.rejectedInARow > this.spec.closeAfterRejected };
  }
}
