/** What the bench ran on, and the OS limits that bound the larger scenarios. */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  cpus: number;
  model: string;
  node: string;
  memoryBytes: number;
  platform: string;
  kernel: string;
  /** Soft and hard RLIMIT_NOFILE of this process (children inherit them). */
  openFilesLimit: { soft: number; hard: number } | null;
  ephemeralPorts: { low: number; high: number } | null;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    model: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    memoryBytes: os.totalmem(),
    platform: `${process.platform}-${process.arch}`,
    kernel: os.release(),
    openFilesLimit: openFilesLimit(),
    ephemeralPorts: ephemeralPorts(),
  };
}

export function openFilesLimit(): { soft: number; hard: number } | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const m = line?.match(/Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/);
    if (!m) return null;
    const n = (s: string) => (s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
    return { soft: n(m[1]!), hard: n(m[2]!) };
  } catch {
    return null;
  }
}

function ephemeralPorts(): { low: number; high: number } | null {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low && high ? { low, high } : null;
  } catch {
    return null;
  }
}

/** User+system CPU time of `pid` in milliseconds, from /proc/<pid>/stat (Linux). */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** Resident set size of `pid` in bytes, from /proc/<pid>/status VmRSS. */
export function processRssBytes(pid: number): number | null {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Open file descriptors of `pid`. */
export function processOpenFds(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** Busy fraction of the whole machine between two samples of /proc/stat. */
export class MachineCpu {
  private last = MachineCpu.read();

  /** Cumulative jiffies: busy (all but idle and iowait), softirq+irq, and total. */
  static read(): { busy: number; irq: number; total: number } {
    try {
      const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
      const v = line.trim().split(/\s+/).slice(1).map(Number);
      const idle = (v[3] ?? 0) + (v[4] ?? 0);
      const total = v.reduce((a, b) => a + b, 0);
      return { busy: total - idle, irq: (v[5] ?? 0) + (v[6] ?? 0), total };
    } catch {
      return { busy: 0, irq: 0, total: 0 };
    }
  }

  /** Busy fraction (0..1) since the previous call or construction. */
  sample(): number {
    return this.sampleDetailed().busy;
  }

  /**
   * Busy and interrupt (irq + softirq) fractions (0..1 of all CPUs) since the previous call.
   * Loopback TCP work done in softirq context is in `irq` and charged to no process.
   */
  sampleDetailed(): { busy: number; irq: number } {
    const now = MachineCpu.read();
    const dt = now.total - this.last.total;
    const out = dt > 0 ? { busy: (now.busy - this.last.busy) / dt, irq: (now.irq - this.last.irq) / dt } : { busy: 0, irq: 0 };
    this.last = now;
    return out;
  }
}

/** Pids of processes whose command name (/proc/<pid>/comm) is `comm`, e.g. 'postgres'. */
export function pidsByName(comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) out.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** CPU milliseconds used so far by each of `pids` (missing ones are skipped). */
export function cpuMsByPid(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const ms = processCpuMs(pid);
    if (ms !== null) out.set(pid, ms);
  }
  return out;
}

/** CPU cores used by the processes present in both samples, over `seconds`. */
export function coresBetween(a: Map<number, number>, b: Map<number, number>, seconds: number): number {
  let ms = 0;
  for (const [pid, end] of b) {
    const start = a.get(pid);
    if (start !== undefined) ms += end - start;
  }
  return seconds > 0 ? ms / 1000 / seconds : 0;
}
