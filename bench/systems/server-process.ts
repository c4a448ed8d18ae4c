/**
 * Runs one server under test in its own Node.js child process, with the heap probe preloaded,
 * and reads its resource use from outside: RSS and CPU time from /proc, heap through the probe.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnManaged, type ManagedChild } from '../lib/children.ts';
import { processCpuMs, processOpenFds, processRssBytes } from '../lib/machine.ts';
import { waitForHttp } from '../lib/net-util.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HEAP_PROBE = fileURLToPath(new URL('../probes/heap-probe.ts', import.meta.url));

export type SystemName = 'guildhall' | 'uws-raw' | 'socketio';
export const SYSTEMS: readonly SystemName[] = ['guildhall', 'uws-raw', 'socketio'];

export interface MemorySample {
  /** VmRSS of the server process (after a forced GC when the probe could run one). */
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  gcRan: boolean;
}

export interface ServerProcess {
  name: SystemName;
  pid: number;
  port: number;
  /** Forces a GC in the server (via the probe) and samples its memory. */
  memory(): Promise<MemorySample>;
  /** Writes a V8 heap snapshot of the server (after a GC) to `file`; resolves with its path. */
  heapSnapshot(file: string): Promise<string>;
  /** User+system CPU milliseconds the server process has used so far. */
  cpuMs(): number;
  openFds(): number | null;
  /** The last ~16 KiB the server wrote (stdout and stderr), for error reports. */
  logTail(): string;
  /** SIGTERM (graceful), SIGKILL after 10 s. */
  stop(): Promise<void>;
}

export interface StartProcessOptions {
  name: SystemName;
  /** Script to run (a .ts path under the repo, run through tsx) and its arguments. */
  script: string;
  /** Run this compiled JavaScript with plain node instead (no tsx), preloading `probe`. */
  compiled?: { script: string; probe: string };
  args?: string[];
  env: Record<string, string>;
  port: number;
  healthPath: string;
  /** Write a V8 CPU profile of the server to this directory (node --cpu-prof). */
  cpuProfileDir?: string;
  startTimeoutMs?: number;
}

export async function startServerProcess(opts: StartProcessOptions): Promise<ServerProcess> {
  const nodeArgs = opts.compiled ? ['--expose-gc', '--import', opts.compiled.probe] : ['--expose-gc', '--import', 'tsx', '--import', HEAP_PROBE];
  // One directory per server run: Node writes one profile per thread (main, and tsx's loader thread).
  if (opts.cpuProfileDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', path.join(opts.cpuProfileDir, `${opts.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`));
  const managed: ManagedChild = spawnManaged(process.execPath, [...nodeArgs, opts.compiled?.script ?? opts.script, ...(opts.args ?? [])], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_ENV: 'production', ...opts.env },
    ipc: true,
  });
  const { child } = managed;
  let exitInfo: string | null = null;
  void managed.exited.then((code) => {
    exitInfo = `${opts.name} exited (${code}) during the run: ${managed.stderrTail().slice(-2000)}`;
  });
  try {
    await waitForHttp(`http://127.0.0.1:${opts.port}${opts.healthPath}`, opts.startTimeoutMs ?? 30_000, () => exitInfo);
  } catch (err) {
    await managed.stop(2000);
    throw new Error(`${opts.name} did not start: ${err instanceof Error ? err.message : String(err)}\n${managed.stderrTail().slice(-2000)}`);
  }
  const pid = child.pid!;

  let nextId = 1;
  const waiting = new Map<number, (m: { usage: NodeJS.MemoryUsage; gcRan: boolean }) => void>();
  const snapshots = new Map<number, (file: string) => void>();
  child.on('message', (m: { type?: string; id?: number; usage?: NodeJS.MemoryUsage; gcRan?: boolean; file?: string }) => {
    if (m?.type === 'bench:heapsnapshot' && m.id !== undefined && m.file) {
      snapshots.get(m.id)?.(m.file);
      snapshots.delete(m.id);
      return;
    }
    if (m?.type !== 'bench:mem' || m.id === undefined || !m.usage) return;
    waiting.get(m.id)?.({ usage: m.usage, gcRan: Boolean(m.gcRan) });
    waiting.delete(m.id);
  });

  const heapSnapshot = (file: string) =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        snapshots.delete(id);
        reject(new Error(`${opts.name}: heap snapshot timed out`));
      }, 120_000);
      snapshots.set(id, (f) => {
        clearTimeout(timer);
        resolve(f);
      });
      child.send({ type: 'bench:heapsnapshot', id, file });
    });

  const memory = async (): Promise<MemorySample> => {
    if (exitInfo) throw new Error(exitInfo);
    const id = nextId++;
    const reply = await new Promise<{ usage: NodeJS.MemoryUsage; gcRan: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`${opts.name}: heap probe did not answer`));
      }, 30_000);
      waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      child.send({ type: 'bench:mem', id });
    });
    return {
      rssBytes: processRssBytes(pid) ?? reply.usage.rss,
      heapUsedBytes: reply.usage.heapUsed,
      heapTotalBytes: reply.usage.heapTotal,
      externalBytes: reply.usage.external,
      arrayBuffersBytes: reply.usage.arrayBuffers,
      gcRan: reply.gcRan,
    };
  };

  return {
    name: opts.name,
    pid,
    port: opts.port,
    memory,
    heapSnapshot,
    cpuMs: () => processCpuMs(pid) ?? 0,
    openFds: () => processOpenFds(pid),
    logTail: () => managed.stderrTail(),
    stop: () => managed.stop(10_000),
  };
}
