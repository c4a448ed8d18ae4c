/**
 * Draws SVG charts from bench JSON: `tsx bench/chart.ts <report.json>… [--out bench/results]`.
 * Accepts single-scenario reports and `all` reports (their `runs`). Writes, for what the input holds:
 *   fanout-deliveries.svg   deliveries/s per subscriber count and system (log scale)
 *   fanout-latency.svg      send→receive p50 and p99 per subscriber count and system (log scale)
 *   throughput.svg          persisted+acked messages/s per system, and ack p99 at the fixed rate
 *   connections.svg         server RSS and heap bytes per idle connection at the largest size
 *   history.svg             history page latency p50/p99 per page kind and system
 *   reconnect.svg           N clients dropped at once: time until all resumed and caught up
 * No dependencies: the SVG is written by hand.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readReportFile } from './lib/report.ts';

interface Row {
  system: string;
  [k: string]: unknown;
}
interface Report {
  scenario: string;
  results: Row[];
  runs?: Report[];
  environment?: { engineCommit?: string | null };
  machine?: { cpus?: number; model?: string; node?: string };
}

const COLORS: Record<string, string> = { guildhall: '#2563eb', 'uws-raw': '#16a34a', socketio: '#dc2626' };
const SERIES_SHADES = ['', '99'];

interface Series {
  name: string;
  color: string;
  values: (number | null)[];
}

interface BarChart {
  title: string;
  subtitle: string;
  yLabel: string;
  groups: string[];
  series: Series[];
  log: boolean;
  format: (v: number) => string;
}

export function fmtCount(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(v >= 1e7 ? 0 : 2)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(v >= 1e4 ? 0 : 1)}k`;
  return v >= 10 ? v.toFixed(0) : v.toFixed(v >= 1 ? 1 : 2);
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A grouped bar chart: one group per x label, one bar per series, value labels on bars. */
export function barChart(c: BarChart): string {
  const width = 900;
  const height = 460;
  const m = { top: 70, right: 20, bottom: 80, left: 80 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const all = c.series.flatMap((s) => s.values).filter((v): v is number => v !== null && v > 0);
  const max = Math.max(...all, 1);
  const min = Math.min(...all, max);
  const lo = c.log ? 10 ** Math.floor(Math.log10(min)) : 0;
  const hi = c.log ? 10 ** Math.ceil(Math.log10(max)) : niceCeil(max);
  const y = (v: number) => {
    if (c.log) return m.top + plotH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;
    return m.top + plotH - (v / hi) * plotH;
  };
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold">${esc(c.title)}</text>`);
  out.push(`<text x="${width / 2}" y="48" text-anchor="middle" font-size="12" fill="#555">${esc(c.subtitle)}</text>`);
  // Grid and y ticks.
  const ticks: number[] = [];
  if (c.log) for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  else for (let i = 0; i <= 5; i++) ticks.push((hi / 5) * i);
  for (const t of ticks) {
    const ty = y(t);
    out.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${ty}" y2="${ty}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${m.left - 8}" y="${ty + 4}" text-anchor="end" font-size="11" fill="#444">${c.format(t)}</text>`);
  }
  out.push(`<text transform="translate(18 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(c.yLabel)}</text>`);
  // Bars.
  const groupW = plotW / c.groups.length;
  const barW = Math.min(60, (groupW * 0.8) / c.series.length);
  c.groups.forEach((g, gi) => {
    const x0 = m.left + gi * groupW + (groupW - barW * c.series.length) / 2;
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      const x = x0 + si * barW;
      if (v === null || v === undefined || v <= 0) {
        out.push(`<text x="${x + barW / 2}" y="${m.top + plotH - 4}" text-anchor="middle" font-size="10" fill="#999">n/a</text>`);
        return;
      }
      const top = y(v);
      out.push(`<rect x="${x + 1}" y="${top}" width="${barW - 2}" height="${m.top + plotH - top}" fill="${s.color}"><title>${esc(s.name)}: ${c.format(v)}</title></rect>`);
      out.push(`<text x="${x + barW / 2}" y="${top - 4}" text-anchor="middle" font-size="10">${c.format(v)}</text>`);
    });
    out.push(`<text x="${m.left + gi * groupW + groupW / 2}" y="${m.top + plotH + 18}" text-anchor="middle" font-size="12">${esc(g)}</text>`);
  });
  out.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${m.top + plotH}" y2="${m.top + plotH}" stroke="#111"/>`);
  // Legend: as many 150 px items per row as fit, rows from the bottom margin down.
  const perRow = Math.max(1, Math.floor(plotW / 150));
  c.series.forEach((s, i) => {
    const lx = m.left + (i % perRow) * 150;
    const ly = m.top + plotH + 42 + Math.floor(i / perRow) * 18;
    out.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="14" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 20}" y="${ly + 2}" font-size="12">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= v) return k * p;
  return 10 * p;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const systemsOf = (rows: Row[]) => [...new Set(rows.map((r) => r.system))];

function subtitle(r: Report): string {
  const m = r.machine;
  const commit = r.environment?.engineCommit ? `engine ${r.environment.engineCommit.slice(0, 10)}` : '';
  return [m ? `${m.cpus} cores, ${m.model}, Node ${m.node}` : '', commit].filter(Boolean).join(' · ');
}

export function chartsFor(report: Report): Record<string, string> {
  const out: Record<string, string> = {};
  const rows = report.results;
  if (report.scenario === 'fanout' && rows.length) {
    const ns = [...new Set(rows.map((r) => num(r.subscribers)!))].sort((a, b) => a - b);
    const sys = systemsOf(rows);
    const get = (s: string, n: number, f: string) => num(rows.find((r) => r.system === s && r.subscribers === n)?.[f]);
    out['fanout-deliveries.svg'] = barChart({
      title: 'Fan-out: deliveries per second at saturation (one sender, N subscribers)',
      subtitle: subtitle(report),
      yLabel: 'deliveries / s (log scale)',
      groups: ns.map((n) => `N = ${n}`),
      series: sys.map((s) => ({ name: s, color: COLORS[s] ?? '#666', values: ns.map((n) => get(s, n, 'deliveriesPerSec')) })),
      log: true,
      format: fmtCount,
    });
    out['fanout-latency.svg'] = barChart({
      title: 'Fan-out: send→receive latency at a fixed moderate rate (p50 solid, p99 light)',
      subtitle: subtitle(report),
      yLabel: 'milliseconds (log scale)',
      groups: ns.map((n) => `N = ${n}`),
      series: sys.flatMap((s) =>
        ['latencyP50Ms', 'latencyP99Ms'].map((f, i) => ({
          name: `${s} ${i ? 'p99' : 'p50'}`,
          color: `${COLORS[s] ?? '#666666'}${SERIES_SHADES[i]}`,
          values: ns.map((n) => get(s, n, f)),
        }))),
      log: true,
      format: (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(v >= 1 ? 1 : 2)),
    });
  }
  if (report.scenario === 'throughput' && rows.length) {
    const sys = systemsOf(rows);
    out['throughput.svg'] = barChart({
      title: 'Throughput: acknowledged messages per second (Guildhall and Socket.IO persist to Postgres)',
      subtitle: subtitle(report),
      yLabel: 'acked messages / s (log scale)',
      groups: ['acked / s at saturation'],
      series: sys.map((s) => ({ name: s, color: COLORS[s] ?? '#666', values: [num(rows.find((r) => r.system === s)?.ackedPerSec)] })),
      log: true,
      format: fmtCount,
    });
  }
  if (report.scenario === 'connections' && rows.length) {
    const sys = systemsOf(rows);
    const largest = (s: string) => rows.filter((r) => r.system === s).sort((a, b) => num(b.connections)! - num(a.connections)!)[0];
    out['connections.svg'] = barChart({
      title: 'Server memory per idle authenticated connection (largest size measured)',
      subtitle: `${subtitle(report)} · ${sys.map((s) => `${s} N=${largest(s)?.connections}`).join(', ')}`,
      yLabel: 'bytes per connection',
      groups: ['RSS', 'JS heap'],
      series: sys.map((s) => ({ name: s, color: COLORS[s] ?? '#666', values: [num(largest(s)?.rssBytesPerConn), num(largest(s)?.heapBytesPerConn)] })),
      log: false,
      format: fmtCount,
    });
  }
  if (report.scenario === 'history' && rows.length) {
    const sys = systemsOf(rows);
    const get = (s: string, page: string, f: string) => num(rows.find((r) => r.system === s && r.page === page)?.[f]);
    out['history.svg'] = barChart({
      title: 'History page latency, one request at a time (p50 solid, p99 light)',
      subtitle: subtitle(report),
      yLabel: 'milliseconds (log scale)',
      groups: ['first page (newest)', 'old page (before a cursor far back)'],
      series: sys.flatMap((s) =>
        ['latencyP50Ms', 'latencyP99Ms'].map((f, i) => ({
          name: `${s} ${i ? 'p99' : 'p50'}`,
          color: `${COLORS[s] ?? '#666666'}${SERIES_SHADES[i]}`,
          values: ['first', 'old'].map((page) => get(s, page, f)),
        }))),
      log: true,
      format: (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(v >= 1 ? 1 : 2)),
    });
  }
  if (report.scenario === 'reconnect' && rows.length) {
    const ns = [...new Set(rows.map((r) => num(r.clients)!))].sort((a, b) => a - b);
    const sys = systemsOf(rows);
    const get = (s: string, n: number, f: string) => num(rows.find((r) => r.system === s && r.clients === n)?.[f]);
    const away = num(rows[0]?.awayMs);
    out['reconnect.svg'] = barChart({
      title: 'Reconnect storm: N clients dropped at once (all resumed solid, all caught up light)',
      subtitle: `${subtitle(report)}${away === null ? '' : ` · times from the drop, ${away} ms away included`}`,
      yLabel: 'milliseconds after the drop',
      groups: ns.map((n) => `N = ${n}`),
      series: sys.flatMap((s) =>
        ['resumedAllMs', 'caughtUpAllMs'].map((f, i) => ({
          name: `${s} ${i ? 'caught up' : 'resumed'}`,
          color: `${COLORS[s] ?? '#666666'}${SERIES_SHADES[i]}`,
          values: ns.map((n) => get(s, n, f)),
        }))),
      log: false,
      format: (v) => v.toFixed(0),
    });
  }
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const outIdx = args.indexOf('--out');
  const outDir = outIdx >= 0 ? args[outIdx + 1]! : fileURLToPath(new URL('./results/', import.meta.url));
  const files = args.filter((a, i) => !a.startsWith('--') && (outIdx < 0 || i !== outIdx + 1));
  if (files.length === 0) {
    process.stderr.write('usage: tsx bench/chart.ts <report.json>… [--out dir]\n');
    process.exit(2);
  }
  mkdirSync(outDir, { recursive: true });
  for (const file of files) {
    const report = readReportFile<Report>(file);
    const reports = report.runs ? report.runs.map((r) => ({ ...r, machine: r.machine ?? report.machine })) : [report];
    for (const r of reports) {
      for (const [name, svg] of Object.entries(chartsFor(r))) {
        writeFileSync(path.join(outDir, name), `${svg}\n`);
        process.stdout.write(`wrote ${path.join(outDir, name)}\n`);
      }
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) main();
