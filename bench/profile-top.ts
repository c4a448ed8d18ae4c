/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, e.g. from `npm run bench -- <scenario> --profile`):
 * the functions with the most self time, and the most total (inclusive) time, as percentages of
 * the profile. Usage: `tsx bench/profile-top.ts <file.cpuprofile | directory> [--top 25] [--json]`; for a
 * directory (one server run writes one profile per thread) the largest profile, the main thread's, is used.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FrameShare {
  frame: string;
  selfPct: number;
  totalPct: number;
}

function label(cf: CallFrame): string {
  const name = cf.functionName || '(anonymous)';
  if (!cf.url) return name;
  const file = cf.url.replace(/^file:\/\//, '');
  const rel = file.includes('node_modules') ? file.slice(file.lastIndexOf('node_modules') + 13) : path.relative(process.cwd(), file);
  return `${name} ${rel}:${cf.lineNumber + 1}`;
}

/** Self and inclusive time per function (merged across call sites), largest first. */
export function summariseProfile(profile: CpuProfile): { totalMs: number; frames: FrameShare[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const walk = (id: number, onStack: Set<string>): number => {
    const node = byId.get(id)!;
    const key = label(node.callFrame);
    let sum = selfUs.get(id) ?? 0;
    self.set(key, (self.get(key) ?? 0) + sum);
    const seen = onStack.has(key);
    if (!seen) onStack.add(key);
    for (const c of node.children ?? []) sum += walk(c, onStack);
    if (!seen) {
      onStack.delete(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + sum);
    }
    return sum;
  };
  walk(profile.nodes[0]!.id, new Set());
  const frames = [...self.keys()].map((frame) => ({
    frame,
    selfPct: Math.round(((self.get(frame) ?? 0) / total) * 1000) / 10,
    totalPct: Math.round(((inclusive.get(frame) ?? 0) / total) * 1000) / 10,
  }));
  return { totalMs: Math.round(total / 1000), frames };
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('profile-top.ts')) {
  let file = process.argv[2];
  if (file && statSync(file).isDirectory()) {
    const dir = file;
    const profiles = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f));
    profiles.sort((a, b) => statSync(b).size - statSync(a).size);
    file = profiles[0];
    process.stderr.write(`using ${file}\n`);
  }
  if (!file) {
    process.stderr.write('usage: tsx bench/profile-top.ts <file.cpuprofile> [--top 25] [--json]\n');
    process.exit(2);
  }
  const topIdx = process.argv.indexOf('--top');
  const top = topIdx > 0 ? Number(process.argv[topIdx + 1]) : 25;
  const { totalMs, frames } = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ totalMs, bySelf: [...frames].sort((a, b) => b.selfPct - a.selfPct).slice(0, top) })}\n`);
  } else {
    const line = (f: FrameShare) => `${f.selfPct.toFixed(1).padStart(6)}% ${f.totalPct.toFixed(1).padStart(6)}%  ${f.frame}`;
    process.stdout.write(`profile: ${totalMs} ms sampled\n\n  self   total  (by self time)\n`);
    for (const f of [...frames].sort((a, b) => b.selfPct - a.selfPct).slice(0, top)) process.stdout.write(`${line(f)}\n`);
    process.stdout.write(`\n  self   total  (by total time)\n`);
    for (const f of [...frames].sort((a, b) => b.totalPct - a.totalPct).slice(0, top)) process.stdout.write(`${line(f)}\n`);
  }
}
