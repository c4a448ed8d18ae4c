/** Messages between the coordinator (main thread) and load-generator workers. */
import type { ConnSpec, Counters, ProbeMode, Role } from './conn.ts';

export type WorkerCommand =
  | { op: 'connect'; specs: ConnSpec[]; role: Role; concurrency: number }
  | { op: 'snapshot' }
  | { op: 'reset' }
  | { op: 'probeMode'; mode: ProbeMode }
  | { op: 'recordAcks'; on: boolean }
  /** Driver: keep `windowMsgs` in flight between send and the slowest probe / watched receiver worker. */
  | { op: 'fanoutSaturate'; windowMsgs: number; watchSlots: number[]; contentSize: number }
  /** Driver: change the window of a running fanoutSaturate. */
  | { op: 'setWindow'; windowMsgs: number }
  | { op: 'fanoutRate'; msgsPerSec: number; contentSize: number }
  /** Senders: each connection keeps `windowPerConn` unacknowledged messages. */
  | { op: 'tpSaturate'; windowPerConn: number; contentSize: number }
  | { op: 'tpRate'; msgsPerSec: number; contentSize: number }
  | { op: 'stop' }
  | { op: 'pacer' }
  | { op: 'takeLatencies' }
  /** Each of the first `connections` sender connections issues one history request at a time. */
  | { op: 'history'; before: string | null; limit: number; durationMs: number; maxRequests: number; connections: number }
  /** Closes the connections of one role (e.g. the subscribers between two sizes of a sweep). */
  | { op: 'closeRole'; role: Role }
  /**
   * Reconnect scenario: drops every connection of `role` abnormally (TCP reset, no close frame),
   * remembering what each needs to resume and the newest message it had seen.
   */
  | { op: 'drop'; role: Role }
  /**
   * Reconnect scenario: reopens every dropped connection at once (resuming its session where the
   * system can), then waits until each has seen message `target` or `timeoutMs` passed.
   */
  | { op: 'reconnect'; role: Role; target: number; timeoutMs: number }
  /** Reconnect scenario: the outcome per reconnected connection (messages received so far included). */
  | { op: 'reconnectResult' }
  | { op: 'close' };

export interface ConnectResult {
  connected: number;
  failed: number;
  /** Handshakes that failed and were retried (counted once per retry). */
  retried: number;
  firstError: string;
  ms: number;
}

export interface WorkerSnapshot {
  counters: Record<Role, Counters>;
  open: Record<Role, number>;
  /** Cumulative event-loop idle/active milliseconds (performance.eventLoopUtilization()). */
  eluIdle: number;
  eluActive: number;
  /** Messages sent since the last reset. */
  sent: number;
  ackOk: number;
  ackFailed: number;
  heapUsed: number;
}

export interface PacerState {
  lastSent: number;
  /** Newest message a sender connection had acknowledged. */
  lastAckedSeq: number;
  minProbeSeq: number;
  /** Requests awaiting their ack. */
  inflight: number;
  /** Messages in the fan-out window now (sent, not yet seen by the slowest receiver). */
  windowUsed: number;
}

export interface HistoryResult {
  elapsedMs: number;
  requests: number;
  ok: number;
  failed: number;
  samples: Float64Array;
}

/** One reconnect storm as seen by one worker: per-connection arrays, times in hrMs(). */
export interface ReconnectResult {
  /** When this worker started dropping its connections. */
  droppedAt: number;
  /** When this worker started reconnecting them. */
  reconnectAt: number;
  /** Per connection: start of its (last) reconnect attempt, handshake completion, caught up (NaN: never). */
  startAt: Float64Array;
  resumedAt: Float64Array;
  caughtUpAt: Float64Array;
  /** Per connection: newest message seen before the drop, messages received since. */
  seqAtDrop: Float64Array;
  received: Float64Array;
  replayed: Float64Array;
  resyncs: Float64Array;
  /** Per connection: 1 when the server continued the session. */
  recovered: Uint8Array;
  failed: number;
  /** Reconnect attempts beyond the first (transport failures). */
  retried: number;
  firstError: string;
}
