/**
 * The bench's output contract. With --json, stdout carries exactly one ScenarioReport (or, for
 * `all`, one AllReport whose `runs` are the scenario reports); everything else goes to stderr.
 * Figure names are stable so scripts can read them: see bench/RESULTS.md for the list.
 */
import type { SystemName } from '../systems/server-process.ts';
import type { Environment } from './environment.ts';
import type { MachineInfo } from './machine.ts';
import { ratio } from './stats.ts';
import { readFileSync } from 'node:fs';

export interface ResultRow {
  system: SystemName;
  [figure: string]: unknown;
}

export interface TargetCheck {
  target: string;
  value: number | null;
  goal: string;
  met: boolean | null;
}

export interface ScenarioReport {
  scenario: string;
  params: Record<string, unknown>;
  machine: MachineInfo;
  environment: Environment;
  results: ResultRow[];
  /** `{"guildhall/uws-raw": {"deliveriesPerSec@subscribers=1000": 0.8, …}, "guildhall/socketio": {…}}` */
  ratios: Record<string, Record<string, number | null>>;
  targets?: TargetCheck[];
  notes?: string[];
  startedAt: string;
  durationSec: number;
}

export interface AllReport {
  scenario: 'all';
  params: Record<string, unknown>;
  machine: MachineInfo;
  runs: ScenarioReport[];
  /** Every run's ratios, keys prefixed with the scenario name. */
  ratios: Record<string, Record<string, number | null>>;
  targets: TargetCheck[];
  startedAt: string;
  durationSec: number;
}

/**
 * Ratios guildhall/peer for each figure, matching rows by `keyOf` (e.g. the size of a sweep).
 * Keys read `<figure>@<key>` (or just `<figure>` when `keyOf` returns '').
 */
export function computeRatios(rows: readonly ResultRow[], figures: readonly string[], keyOf: (r: ResultRow) => string): ScenarioReport['ratios'] {
  const out: ScenarioReport['ratios'] = {};
  const mine = rows.filter((r) => r.system === 'guildhall');
  for (const peer of ['uws-raw', 'socketio'] as const) {
    const theirs = rows.filter((r) => r.system === peer);
    if (theirs.length === 0 || mine.length === 0) continue;
    const table: Record<string, number | null> = {};
    for (const g of mine) {
      const p = theirs.find((t) => keyOf(t) === keyOf(g));
      if (!p) continue;
      for (const f of figures) {
        const key = keyOf(g) ? `${f}@${keyOf(g)}` : f;
        table[key] = ratio(asNumber(g[f]), asNumber(p[f]));
      }
    }
    out[`guildhall/${peer}`] = table;
  }
  return out;
}

export function asNumber(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** A fixed-width text table for the human summary. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [headers.map(String), ...rows.map((r) => r.map(fmt))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Human formatting: 1234567 → "1.23M", 0.0123 → "0.0123", null → "-". */
export function fmt(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v !== 'number') return String(v);
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toPrecision(3);
}

/** Ratio tables as text, one line per figure. */
export function formatRatios(ratios: ScenarioReport['ratios']): string {
  const lines: string[] = [];
  const keys = [...new Set(Object.values(ratios).flatMap((t) => Object.keys(t)))];
  if (keys.length === 0) return '';
  const peers = Object.keys(ratios);
  lines.push(table(['figure', ...peers], keys.map((k) => [k, ...peers.map((p) => ratios[p]![k] ?? null)])));
  return lines.join('\n');
}

export function formatTargets(targets: readonly TargetCheck[]): string {
  if (targets.length === 0) return '';
  return table(['target', 'goal', 'measured', 'met'], targets.map((t) => [t.target, t.goal, t.value, t.met === null ? 'n/a' : t.met ? 'MET' : 'MISSED']));
}

/**
 * Reads a bench JSON report from a file. Tolerates what `npm run bench -- … --json > file` puts
 * before the object (npm's own "> guildhall@… bench" banner on stdout; `npm run -s` avoids it).
 */
export function readReportFile<T>(file: string): T {
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf('{');
  if (start < 0) throw new Error(`${file}: no JSON object in it`);
  return JSON.parse(text.slice(start)) as T;
}
