/**
 * A load-generator worker thread. It owns a set of connections (counting subscribers, probes,
 * senders) and runs what the coordinator asks over postMessage: connect, reset/snapshot counters,
 * send at saturation (flow-controlled end to end) or at a fixed open-loop rate, measure request
 * latency, close. Receiver workers publish their progress in a SharedArrayBuffer so the driver's
 * send window accounts for the slowest receivers, not only for its own probes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Samples } from '../lib/stats.ts';
import { Conn, hrMs, newCounters, type ConnHost, type ConnSpec, type Counters, type ProbeMode, type Role } from './conn.ts';
import { GuildhallConn } from './guildhall-conn.ts';
import { SocketioConn } from './socketio-conn.ts';
import { UwsRawConn } from './uws-raw-conn.ts';
import type { ReconnectResult, WorkerCommand, WorkerSnapshot } from './worker-protocol.ts';

interface Init {
  slot: number;
  progress: SharedArrayBuffer;
}

const init = workerData as Init;
const CONNECT_ATTEMPTS = 5;
/** Attempts per connection in a reconnect storm (transport failures only; a refused resume is final). */
const RECONNECT_ATTEMPTS = 3;

/** A reconnect storm in progress: per-connection state, indexed like conns[role] at the drop. */
interface Storm {
  role: Role;
  states: unknown[];
  target: number;
  index: Map<Conn, number>;
  /** First time each reconnected connection saw message `target` (NaN: not yet). */
  reached: Float64Array;
  result: ReconnectResult;
}
const progress = new Float64Array(init.progress);

class LoadWorker implements ConnHost {
  readonly conns: Record<Role, Conn[]> = { count: [], probe: [], sender: [] };
  readonly counters: Record<Role, Counters> = { count: newCounters(), probe: newCounters(), sender: newCounters() };
  private mode: ProbeMode = 'off';
  private deliveriesSinceReset = 0;
  private readonly latencies = new Samples();
  private recordAcks = false;
  private ackOk = 0;
  private ackFailed = 0;

  /** Sequence of the next message; never reset, so old frames cannot look new. */
  private seq = 1;
  private baseSeq = 1;
  private sending: 'none' | 'fanout-saturate' | 'fanout-rate' | 'tp-saturate' | 'tp-rate' = 'none';
  private windowMsgs = 0;
  private windowPerConn = 0;
  private contentSize = 100;
  private watchSlots: number[] = [];
  private pumpTimer: NodeJS.Timeout | null = null;
  private rateTimer: NodeJS.Timeout | null = null;
  private rr = 0;
  private historyLoops: Map<Conn, () => void> | null = null;
  private storm: Storm | null = null;

  constructor() {
    setInterval(() => {
      const now = Date.now();
      for (const role of ['count', 'probe', 'sender'] as const) for (const c of this.conns[role]) c.keepAlive(now);
    }, 1000).unref();
  }

  // ConnHost ---------------------------------------------------------------------------------
  probeMode(): ProbeMode {
    return this.mode;
  }

  observed(conn: Conn, _seq: number, sentAtMs: number, receivedAtMs: number): void {
    if (this.mode === 'latency' && sentAtMs > 0) this.latencies.push(receivedAtMs - sentAtMs);
    const storm = this.storm;
    if (storm && conn.lastSeq >= storm.target) {
      const i = storm.index.get(conn);
      if (i !== undefined && Number.isNaN(storm.reached[i]!)) storm.reached[i] = hrMs();
    }
    if (this.sending === 'fanout-saturate') this.pump();
  }

  acked(conn: Conn, sentAtMs: number, ackedAtMs: number, ok: boolean): void {
    if (ok) this.ackOk++;
    else this.ackFailed++;
    if (this.recordAcks) this.latencies.push(ackedAtMs - sentAtMs);
    this.historyLoops?.get(conn)?.();
    if (this.sending === 'tp-saturate' && conn.isReady) {
      while (conn.inflight < this.windowPerConn) conn.sendMessage(this.seq++, hrMs(), this.contentSize);
    }
  }

  delivered(n: number): void {
    this.deliveriesSinceReset += n;
    const conns = this.conns.count.length;
    if (conns > 0) progress[init.slot] = this.deliveriesSinceReset / conns;
  }

  // Commands -----------------------------------------------------------------------------------
  async run(cmd: WorkerCommand): Promise<unknown> {
    switch (cmd.op) {
      case 'connect':
        return this.connect(cmd.specs, cmd.role, cmd.concurrency);
      case 'snapshot':
        return this.snapshot();
      case 'reset':
        for (const role of ['count', 'probe', 'sender'] as const) Object.assign(this.counters[role], newCounters());
        this.deliveriesSinceReset = 0;
        progress[init.slot] = 0;
        this.baseSeq = this.seq;
        this.ackOk = this.ackFailed = 0;
        this.latencies.take();
        return null;
      case 'probeMode':
        this.mode = cmd.mode;
        return null;
      case 'recordAcks':
        this.recordAcks = cmd.on;
        return null;
      case 'fanoutSaturate':
        this.windowMsgs = cmd.windowMsgs;
        this.watchSlots = cmd.watchSlots;
        this.contentSize = cmd.contentSize;
        this.sending = 'fanout-saturate';
        this.pump();
        return null;
      case 'setWindow':
        this.windowMsgs = cmd.windowMsgs;
        return null;
      case 'fanoutRate':
      case 'tpRate':
        this.contentSize = cmd.contentSize;
        this.startRate(cmd.op === 'fanoutRate' ? 'fanout-rate' : 'tp-rate', cmd.msgsPerSec);
        return null;
      case 'tpSaturate':
        this.contentSize = cmd.contentSize;
        this.windowPerConn = cmd.windowPerConn;
        this.sending = 'tp-saturate';
        for (const c of this.conns.sender) {
          if (!c.isReady || !c.ws?.isOpen) continue;
          c.ws.socket.cork();
          while (c.inflight < this.windowPerConn) c.sendMessage(this.seq++, hrMs(), this.contentSize);
          c.ws.socket.uncork();
        }
        return null;
      case 'stop':
        this.stopSending();
        return { sent: this.seq - this.baseSeq, lastSeq: this.seq - 1 };
      case 'pacer':
        return { lastSent: this.seq - 1, lastAckedSeq: Math.max(-1, ...this.conns.sender.map((c) => c.lastAckedSeq)), minProbeSeq: this.minProbeSeq(), inflight: this.conns.sender.reduce((a, c) => a + c.inflight, 0), windowUsed: this.windowUsed() };
      case 'takeLatencies':
        return this.latencies.take();
      case 'history':
        return this.history(cmd.before, cmd.limit, cmd.durationMs, cmd.maxRequests, cmd.connections);
      case 'closeRole':
        return this.closeConns([cmd.role]);
      case 'drop':
        return this.drop(cmd.role);
      case 'reconnect':
        return this.reconnect(cmd.target, cmd.timeoutMs);
      case 'reconnectResult':
        return this.reconnectResult();
      case 'close':
        this.stopSending();
        return this.closeConns(['count', 'probe', 'sender']);
    }
  }

  /**
   * Opens `specs` with at most `concurrency` handshakes in flight. A failed handshake is retried
   * with backoff (0.5, 1, 2, 4 s), which rides out a short outage of the server's dependencies.
   */
  private async connect(specs: ConnSpec[], role: Role, concurrency: number) {
    const started = Date.now();
    let failed = 0;
    let retried = 0;
    let firstError = '';
    let next = 0;
    const one = async () => {
      while (next < specs.length) {
        const spec = specs[next++]!;
        for (let attempt = 1; ; attempt++) {
          const conn = createConn(spec, role, this.counters[role], this);
          try {
            await conn.open();
            this.conns[role].push(conn);
            break;
          } catch (err) {
            firstError ||= err instanceof Error ? err.message : String(err);
            if (attempt >= CONNECT_ATTEMPTS) {
              failed++;
              break;
            }
            retried++;
            await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 1)));
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, specs.length)) }, one));
    // Handshake failures that were retried successfully are not errors of the measured phase.
    this.counters[role].errors = 0;
    this.counters[role].lastError = '';
    return { connected: specs.length - failed, failed, retried, firstError, ms: Date.now() - started };
  }

  private snapshot(): WorkerSnapshot {
    const elu = performance.eventLoopUtilization();
    const open = (role: Role) => this.conns[role].filter((c) => c.ws?.isOpen).length;
    return {
      counters: { count: { ...this.counters.count }, probe: { ...this.counters.probe }, sender: { ...this.counters.sender } },
      open: { count: open('count'), probe: open('probe'), sender: open('sender') },
      eluIdle: elu.idle,
      eluActive: elu.active,
      sent: this.seq - this.baseSeq,
      ackOk: this.ackOk,
      ackFailed: this.ackFailed,
      heapUsed: process.memoryUsage().heapUsed,
    };
  }

  /** Newest message every probe has seen, as messages since the last reset. */
  private minProbeSeq(): number {
    let min = Infinity;
    for (const c of this.conns.probe) if (c.lastSeq < min) min = c.lastSeq;
    return min === Infinity ? this.seq - 1 : min;
  }

  /** Messages sent but not yet seen by the slowest probe or watched receiver worker (this phase). */
  private windowUsed(): number {
    // Probes that saw nothing of this phase yet (lastSeq < baseSeq) count as 0 delivered.
    let delivered = Math.max(0, this.minProbeSeq() - this.baseSeq + 1);
    for (const s of this.watchSlots) delivered = Math.min(delivered, progress[s]!);
    return this.seq - this.baseSeq - delivered;
  }

  /** Fan-out at saturation: keep `windowMsgs` messages in flight between send and slowest receipt. */
  private pump(): void {
    if (this.sending !== 'fanout-saturate') return;
    const sender = this.conns.sender[0];
    if (!sender?.ws?.isOpen) return;
    let delivered = Math.max(0, this.minProbeSeq() - this.baseSeq + 1);
    for (const s of this.watchSlots) delivered = Math.min(delivered, progress[s]!);
    const sock = sender.ws.socket;
    if (this.seq - this.baseSeq - delivered < this.windowMsgs) {
      sock.cork();
      while (this.seq - this.baseSeq - delivered < this.windowMsgs) sender.sendMessage(this.seq++, hrMs(), this.contentSize);
      sock.uncork();
    }
    // Receiver progress is not evented: re-check every millisecond while saturating.
    this.pumpTimer ??= setTimeout(() => {
      this.pumpTimer = null;
      this.pump();
    }, 1);
  }

  /** Open loop: message i leaves at start + i/rate and carries that intended time (no coordinated omission). */
  private startRate(kind: 'fanout-rate' | 'tp-rate', msgsPerSec: number): void {
    this.stopSending();
    this.sending = kind;
    const start = hrMs();
    let sent = 0;
    const senders = this.conns.sender.filter((c) => c.isReady);
    if (senders.length === 0) throw new Error('no sender connections');
    const tick = () => {
      const now = hrMs();
      // Message i is due at start + i/rate (message 0 at once).
      const due = Math.floor(((now - start) * msgsPerSec) / 1000) + 1 - sent;
      for (let i = 0; i < due; i++) {
        const conn = senders[this.rr++ % senders.length]!;
        if (conn.ws?.isOpen) conn.sendMessage(this.seq++, start + (sent * 1000) / msgsPerSec, this.contentSize);
        sent++;
      }
    };
    this.rateTimer = setInterval(tick, 1);
  }

  private stopSending(): void {
    this.sending = 'none';
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    if (this.rateTimer) clearInterval(this.rateTimer);
    this.pumpTimer = this.rateTimer = null;
  }

  /** Each of the first `connections` senders runs one history request at a time until the time or count is up. */
  private async history(before: string | null, limit: number, durationMs: number, maxRequests: number, connections: number) {
    const conns = this.conns.sender.filter((c) => c.isReady && c.ws?.isOpen).slice(0, connections);
    this.latencies.take();
    this.ackOk = this.ackFailed = 0;
    this.recordAcks = true;
    let issued = 0;
    const started = hrMs();
    const deadline = started + durationMs;
    const loops = new Map<Conn, () => void>();
    this.historyLoops = loops;
    const finished = Promise.all(
      conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            const loop = () => {
              if (hrMs() >= deadline || issued >= maxRequests || !c.ws?.isOpen) {
                loops.delete(c);
                return resolve();
              }
              issued++;
              c.requestHistory(before, limit);
            };
            loops.set(c, loop);
            loop();
          }),
      ),
    );
    // A reply that never comes (closed socket) must not hang the run.
    await Promise.race([finished, new Promise((r) => setTimeout(r, durationMs + 15_000))]);
    this.historyLoops = null;
    this.recordAcks = false;
    return { elapsedMs: hrMs() - started, requests: issued, ok: this.ackOk, failed: this.ackFailed, samples: this.latencies.take() };
  }

  /** Drops every connection of `role` at once without a close frame (a TCP reset, as when a network fails). */
  private drop(role: Role): { dropped: number; withoutResumeState: number; minSeq: number } {
    const conns = this.conns[role];
    const n = conns.length;
    const nan = () => new Float64Array(n).fill(NaN);
    const storm: Storm = {
      role,
      states: conns.map((c) => c.resumeState()),
      target: Infinity,
      index: new Map(),
      reached: nan(),
      result: {
        droppedAt: hrMs(),
        reconnectAt: NaN,
        startAt: nan(),
        resumedAt: nan(),
        caughtUpAt: nan(),
        seqAtDrop: Float64Array.from(conns, (c) => c.lastSeq),
        received: new Float64Array(n),
        replayed: new Float64Array(n),
        resyncs: new Float64Array(n),
        recovered: new Uint8Array(n),
        failed: 0,
        retried: 0,
        firstError: '',
      },
    };
    this.storm = storm;
    for (const c of conns) {
      const socket = c.ws?.socket;
      if (socket && typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else c.ws?.destroy();
    }
    return { dropped: n, withoutResumeState: storm.states.filter((x) => x === null).length, minSeq: Math.min(...storm.result.seqAtDrop) };
  }

  /**
   * Reopens every dropped connection at once, each continuing its session where the system can,
   * then waits until every reconnected connection has seen message `target` (or the time is up).
   */
  private async reconnect(target: number, timeoutMs: number): Promise<null> {
    const storm = this.storm;
    if (!storm) throw new Error('reconnect without drop');
    const r = storm.result;
    const role = storm.role;
    const conns = this.conns[role];
    storm.target = target;
    r.reconnectAt = hrMs();
    const deadline = r.reconnectAt + timeoutMs;
    const one = async (i: number) => {
      const prev = conns[i]!;
      r.startAt[i] = hrMs();
      for (let attempt = 1; ; attempt++) {
        const conn = createConn(prev.spec, role, this.counters[role], this);
        conn.resumeFrom = storm.states[i] ?? null;
        conn.lastSeq = r.seqAtDrop[i]!;
        storm.index.set(conn, i);
        try {
          await conn.open(Math.max(1000, deadline - hrMs()));
          conns[i] = conn;
          r.resumedAt[i] = conn.readyAt;
          r.recovered[i] = conn.resumeOutcome.recovered ? 1 : 0;
          r.replayed[i] = conn.resumeOutcome.replayed;
          r.resyncs[i] = conn.resumeOutcome.resyncs;
          if (conn.lastSeq >= target && Number.isNaN(storm.reached[i]!)) storm.reached[i] = conn.readyAt;
          return;
        } catch (err) {
          storm.index.delete(conn);
          const message = err instanceof Error ? err.message : String(err);
          r.firstError ||= message;
          if (attempt >= RECONNECT_ATTEMPTS || hrMs() >= deadline || /failed:|refused:/.test(message)) {
            r.failed++;
            return;
          }
          r.retried++;
          await new Promise((res) => setTimeout(res, 250 * 2 ** (attempt - 1)));
        }
      }
    };
    await Promise.all(conns.map((_, i) => one(i)));
    const behind = () => {
      for (let i = 0; i < conns.length; i++) if (!Number.isNaN(r.resumedAt[i]!) && Number.isNaN(storm.reached[i]!)) return true;
      return false;
    };
    while (hrMs() < deadline && behind()) await new Promise((res) => setTimeout(res, 5));
    return null;
  }

  private reconnectResult(): ReconnectResult {
    const storm = this.storm;
    if (!storm) throw new Error('no reconnect storm');
    const r = storm.result;
    const conns = this.conns[storm.role];
    for (let i = 0; i < conns.length; i++) {
      if (Number.isNaN(r.resumedAt[i]!)) continue;
      r.received[i] = conns[i]!.trackedMessages;
      // Caught up = back (handshake done) and has seen the target message, replayed or live.
      r.caughtUpAt[i] = Number.isNaN(storm.reached[i]!) ? NaN : Math.max(storm.reached[i]!, r.resumedAt[i]!);
    }
    return r;
  }

  private async closeConns(roles: readonly Role[]): Promise<null> {
    const all = roles.flatMap((r) => this.conns[r]);
    for (const c of all) c.close();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && all.some((c) => c.ws?.isOpen)) await new Promise((r) => setTimeout(r, 50));
    for (const c of all) c.ws?.destroy();
    for (const r of roles) this.conns[r] = [];
    if (this.storm && roles.includes(this.storm.role)) this.storm = null;
    return null;
  }
}

function createConn(spec: ConnSpec, role: Role, counters: Counters, host: ConnHost): Conn {
  switch (spec.system) {
    case 'guildhall':
      return new GuildhallConn(spec, role, counters, host);
    case 'socketio':
      return new SocketioConn(spec, role, counters, host);
    case 'uws-raw':
      return new UwsRawConn(spec, role, counters, host);
  }
}

const worker = new LoadWorker();
parentPort!.on('message', (msg: { id: number; cmd: WorkerCommand }) => {
  worker.run(msg.cmd).then(
    (result) => parentPort!.postMessage({ id: msg.id, ok: true, result }),
    (err: unknown) => parentPort!.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
  );
});
