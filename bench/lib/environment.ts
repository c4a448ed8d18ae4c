/**
 * The conditions of a run that are not the machine itself: which engine commit ran, the Postgres
 * settings that decide commit cost, and how busy the machine was before the scenario started
 * (other processes on a shared machine disturb every figure).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../systems/server-process.ts';
import type { EngineRuntime } from '../systems/system.ts';
import { MachineCpu } from './machine.ts';
import { postgresSettings } from './pg.ts';
import { sleep } from './progress.ts';

export interface Environment {
  /** How Guildhall ran: through tsx, or compiled by tsc (--engine build). */
  engineRuntime: EngineRuntime;
  /** Commit of the engine that ran, and whether engine/protocol/storage had uncommitted changes. */
  engineCommit: string | null;
  engineDirty: boolean | null;
  postgres: Record<string, string> | null;
  /** Busy fraction (0..1) of all CPUs during the second before the scenario started. */
  backgroundCpuBusy: number;
}

export async function environment(engineRuntime: EngineRuntime): Promise<Environment> {
  const cpu = new MachineCpu();
  await sleep(1000);
  const backgroundCpuBusy = Math.round(cpu.sample() * 100) / 100;
  return { engineRuntime, ...engineVersion(), postgres: await postgresSettings().catch(() => null), backgroundCpuBusy };
}

/**
 * Waits (up to `timeoutSec`) until the machine has been less than `threshold` busy for three
 * consecutive seconds; returns the seconds waited, or null when it never got quiet.
 */
export async function waitForQuiet(timeoutSec: number, threshold = 0.15, onWait?: (busy: number) => void): Promise<number | null> {
  const cpu = new MachineCpu();
  const started = Date.now();
  let quiet = 0;
  while ((Date.now() - started) / 1000 < timeoutSec) {
    await sleep(1000);
    const busy = cpu.sample();
    quiet = busy < threshold ? quiet + 1 : 0;
    if (quiet >= 3) return Math.round((Date.now() - started) / 1000);
    onWait?.(busy);
  }
  return null;
}

function engineVersion(): { engineCommit: string | null; engineDirty: boolean | null } {
  const pinned = path.join(REPO_ROOT, '.engine-commit');
  if (existsSync(pinned)) return { engineCommit: readFileSync(pinned, 'utf8').trim(), engineDirty: false };
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'engine', 'protocol', 'storage'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim() !== '';
    return { engineCommit: commit, engineDirty: dirty };
  } catch {
    return { engineCommit: null, engineDirty: null };
  }
}
