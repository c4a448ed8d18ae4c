/**
 * Preloaded into every server the bench starts (`node --expose-gc --import tsx --import
 * ./bench/probes/heap-probe.ts …`), so the bench can read the server's own memory without any
 * engine code: over the IPC channel it answers `{type: 'bench:mem', id}` with a full GC (when
 * --expose-gc is on) followed by process.memoryUsage(). It also ends the server when the bench's
 * IPC channel closes, so a killed bench never leaves a server running.
 */

import { writeHeapSnapshot } from 'node:v8';

interface MemRequest {
  type: 'bench:mem';
  id: number;
  gc?: boolean;
}

/** `{type: 'bench:heapsnapshot', id, file}`: writes a heap snapshot (after a GC) to `file`. */
interface SnapshotRequest {
  type: 'bench:heapsnapshot';
  id: number;
  file: string;
}

const isMemRequest = (m: unknown): m is MemRequest =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'bench:mem';
const isSnapshotRequest = (m: unknown): m is SnapshotRequest =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'bench:heapsnapshot';

if (process.send) {
  process.on('message', (m: unknown) => {
    if (isSnapshotRequest(m)) {
      (globalThis as { gc?: () => void }).gc?.();
      const file = writeHeapSnapshot(m.file);
      process.send?.({ type: 'bench:heapsnapshot', id: m.id, file });
      return;
    }
    if (!isMemRequest(m)) return;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (m.gc !== false && gc) {
      // Several passes: the first may only queue finalizers for weak/native-backed objects.
      gc();
      gc();
    }
    process.send?.({ type: 'bench:mem', id: m.id, usage: process.memoryUsage(), gcRan: Boolean(gc && m.gc !== false) });
  });
  process.on('disconnect', () => {
    process.kill(process.pid, 'SIGTERM');
    setTimeout(() => process.exit(1), 5000).unref();
  });
  // The channel must not by itself keep a finished server alive.
  process.channel?.unref();
}
