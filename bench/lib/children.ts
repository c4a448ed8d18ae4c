/**
 * Every process the bench starts goes through spawnManaged(), which records it so that it is
 * stopped whatever happens: normal end, an error, Ctrl-C (SIGINT), SIGTERM, or an uncaught
 * exception. Children also watch their IPC channel (see probes/heap-probe.ts) and exit when the
 * bench disappears, so even a SIGKILLed bench leaves nothing behind.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const live = new Set<ChildProcess>();
const cleanups = new Set<() => void>();
let installed = false;

export interface ManagedChild {
  child: ChildProcess;
  /** The last ~16 KiB of stderr, for error messages. */
  stderrTail(): string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns `command args` (stdout/stderr piped, optional IPC) and registers it for cleanup. */
export function spawnManaged(command: string, args: readonly string[], opts: SpawnOptions & { ipc?: boolean } = {}): ManagedChild {
  installHandlers();
  const { ipc, ...spawnOpts } = opts;
  const child = spawn(command, args, {
    ...spawnOpts,
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-16_384);
  };
  child.stderr?.on('data', keep);
  child.stdout?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', () => {
      live.delete(child);
      resolve('spawn-error');
    });
  });
  const stop = async (graceMs = 10_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { child, stderrTail: () => tail, exited, stop };
}

/** Registers a synchronous cleanup to run on exit and signals (e.g. terminating worker threads). */
export function onCleanup(fn: () => void): () => void {
  installHandlers();
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Kills every live child immediately (SIGKILL) and runs the cleanups. Synchronous, idempotent. */
export function killAllNow(): void {
  for (const fn of [...cleanups]) {
    cleanups.delete(fn);
    try {
      fn();
    } catch {
      // best effort during teardown
    }
  }
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** Number of children still running (used by tests of the cleanup path and by the CLI's final check). */
export function liveChildren(): number {
  return live.size;
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.once('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every process it started\n`);
      killAllNow();
      process.exit(130);
    });
  }
}
