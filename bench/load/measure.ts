/**
 * Measurement windows over a LoadPool: counters and event-loop use of every worker, the server's
 * CPU, the load process's CPU and the whole machine's, between two instants. Also waits for
 * in-flight traffic to drain so that a phase's tail never leaks into the next one.
 */
import os from 'node:os';
import { coresBetween, cpuMsByPid, MachineCpu, pidsByName } from '../lib/machine.ts';
import { sleep } from '../lib/progress.ts';
import type { ServerProcess } from '../systems/server-process.ts';
import type { Role } from './conn.ts';
import { utilisation, type LoadPool } from './load-pool.ts';
import type { WorkerSnapshot } from './worker-protocol.ts';

export interface WindowMark {
  at: number;
  snaps: WorkerSnapshot[];
  serverCpuMs: number;
  clientCpu: NodeJS.CpuUsage;
  /** CPU ms of every `postgres` process (backends, WAL writer, …) at this instant. */
  postgresCpu: Map<number, number>;
}

export interface WindowFigures {
  seconds: number;
  /** Per-role sums of counter deltas. */
  deliveries: number;
  frames: number;
  bytes: number;
  sent: number;
  acks: number;
  errors: number;
  lastError: string;
  /** Server process CPU in cores (1.0 = one core busy). */
  serverCores: number;
  /** This process (coordinator + load workers) CPU in cores. */
  clientCores: number;
  /** All `postgres` processes together, in cores. */
  postgresCores: number;
  /** Interrupt and softirq time (cores): mostly loopback TCP processing, charged to no process. */
  irqCores: number;
  /**
   * Machine CPU (cores) used by nothing measured here, i.e. other processes (and kernel threads).
   * A large value means something else disturbed the run.
   */
  otherCores: number;
  machineBusy: number;
  /** Event-loop utilisation of each worker (0..1). */
  workerElu: number[];
}

const machine = new MachineCpu();
const CPUS = os.cpus().length;

export async function mark(pool: LoadPool, server: ServerProcess): Promise<WindowMark> {
  const snaps = await pool.snapshots();
  return { at: performance.now(), snaps, serverCpuMs: server.cpuMs(), clientCpu: process.cpuUsage(), postgresCpu: cpuMsByPid(pidsByName('postgres')) };
}

/** Resets the machine-wide CPU sampler (call at the start of a window). */
export function startMachineSample(): void {
  machine.sample();
}

/** Figures between two marks, summing the counters of `roles`. */
export function between(a: WindowMark, b: WindowMark, roles: readonly Role[]): WindowFigures {
  const seconds = (b.at - a.at) / 1000;
  let deliveries = 0;
  let frames = 0;
  let bytes = 0;
  let errors = 0;
  let lastError = '';
  for (let i = 0; i < b.snaps.length; i++) {
    for (const role of roles) {
      const x = a.snaps[i]!.counters[role];
      const y = b.snaps[i]!.counters[role];
      deliveries += y.deliveries - x.deliveries;
      frames += y.frames - x.frames;
      bytes += y.bytes - x.bytes;
    }
    for (const role of ['count', 'probe', 'sender'] as const) {
      errors += b.snaps[i]!.counters[role].errors - a.snaps[i]!.counters[role].errors;
      lastError ||= b.snaps[i]!.counters[role].lastError;
    }
  }
  const sent = b.snaps.reduce((s, x, i) => s + x.sent - a.snaps[i]!.sent, 0);
  const acks = b.snaps.reduce((s, x, i) => s + x.ackOk - a.snaps[i]!.ackOk, 0);
  const cpu = process.cpuUsage(a.clientCpu);
  const clientCpuMs = (cpu.user + cpu.system) / 1000;
  const serverCores = (b.serverCpuMs - a.serverCpuMs) / 1000 / seconds;
  const clientCores = clientCpuMs / 1000 / seconds;
  const postgresCores = coresBetween(a.postgresCpu, b.postgresCpu, seconds);
  const { busy: machineBusy, irq } = machine.sampleDetailed();
  const irqCores = irq * CPUS;
  return {
    seconds,
    deliveries,
    frames,
    bytes,
    sent,
    acks,
    errors,
    lastError,
    serverCores,
    clientCores,
    postgresCores,
    irqCores,
    otherCores: Math.max(0, machineBusy * CPUS - serverCores - clientCores - postgresCores - irqCores),
    machineBusy,
    workerElu: b.snaps.map((s, i) => utilisation(a.snaps[i]!, s)),
  };
}

/** Total deliveries counted since the last reset on `roles`. */
export function totalDeliveries(snaps: readonly WorkerSnapshot[], roles: readonly Role[]): number {
  let n = 0;
  for (const s of snaps) for (const r of roles) n += s.counters[r].deliveries;
  return n;
}

/**
 * Waits until the counters of `roles` stop moving for `quietMs` and `expected` deliveries (if given)
 * arrived, or `timeoutMs` passed. Returns the final total and whether it settled.
 */
export async function drain(pool: LoadPool, roles: readonly Role[], opts: { expected?: number; quietMs?: number; timeoutMs?: number } = {}) {
  const quietMs = opts.quietMs ?? 300;
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const snaps = await pool.snapshots();
    const total = totalDeliveries(snaps, roles);
    const acksPending = snaps.some((s) => s.sent > s.ackOk + s.ackFailed);
    if (total !== last) {
      last = total;
      stableSince = Date.now();
    }
    const reached = opts.expected === undefined || total >= opts.expected;
    if (reached && !acksPending && Date.now() - stableSince >= quietMs) return { total, settled: true, snaps };
    if (Date.now() > deadline) return { total, settled: false, snaps };
    await sleep(50);
  }
}
