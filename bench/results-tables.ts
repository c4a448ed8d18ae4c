/**
 * Markdown tables of a bench JSON report, for bench/RESULTS.md:
 * `tsx bench/results-tables.ts <report.json>` (single scenario or `all`).
 */
import { fmt, readReportFile } from './lib/report.ts';

interface Row {
  system: string;
  [k: string]: unknown;
}
interface Report {
  scenario: string;
  results: Row[];
  ratios: Record<string, Record<string, number | null>>;
  targets?: { target: string; goal: string; value: number | null; met: boolean | null }[];
  notes?: string[];
  /** Reports written before every scenario could run (reconnect, before RESUME) carry this instead of results. */
  skipped?: string;
  runs?: Report[];
}

const COLUMNS: Record<string, [string, string][]> = {
  micro: [['task', 'task'], ['opsPerSec', 'ops/s'], ['meanNs', 'mean ns'], ['p99Ns', 'p99 ns']],
  fanout: [
    ['system', 'system'], ['subscribers', 'N'], ['deliveriesPerSec', 'deliveries/s'], ['messagesPerSec', 'msgs/s'],
    ['eventsPerFrame', 'events/frame'], ['latencyRateMsgsPerSec', 'latency rate msg/s'], ['latencyP50Ms', 'p50 ms'],
    ['latencyP99Ms', 'p99 ms'], ['serverCores', 'server cores'], ['receiverEluMax', 'receiver ELU'], ['otherCores', 'other cores'],
  ],
  throughput: [
    ['system', 'system'], ['ackedPerSec', 'acked/s'], ['rowsPerSec', 'rows/s'], ['ackP50Ms', 'ack p50 ms'], ['ackP99Ms', 'ack p99 ms'],
    ['ackP999Ms', 'ack p999 ms'], ['rateAchievedPerSec', 'achieved at rate'], ['pgCommitP99Ms', 'pg commit p99 ms'],
    ['serverCores', 'server cores'], ['postgresCores', 'postgres cores'], ['otherCores', 'other cores'],
  ],
  connections: [
    ['system', 'system'], ['connections', 'connections'], ['rssBytesPerConn', 'RSS B/conn'], ['heapBytesPerConn', 'heap B/conn'],
    ['heapTotalBytesPerConn', 'heap total B/conn'], ['rssMiB', 'RSS MiB'], ['connectPerSec', 'connects/s'],
  ],
  reconnect: [
    ['system', 'system'], ['clients', 'N'], ['sendRate', 'msg/s'], ['resumedAllMs', 'all resumed ms'], ['caughtUpAllMs', 'all caught up ms'],
    ['reconnectAllMs', 'storm ms'], ['resumeP50Ms', 'p50 ms'], ['resumeP99Ms', 'p99 ms'], ['recovered', 'recovered'],
    ['replayedEvents', 'replayed'], ['resyncs', 'resyncs'], ['lostEvents', 'lost'], ['failed', 'failed'], ['serverCores', 'server cores'],
    ['otherCores', 'other cores'],
  ],
  history: [
    ['system', 'system'], ['page', 'page'], ['source', 'source'], ['latencyP50Ms', 'p50 ms'], ['latencyP99Ms', 'p99 ms'],
    ['sequentialPagesPerSec', 'pages/s (1 conn)'], ['pagesPerSec', 'pages/s (16 conns)'], ['concurrentP99Ms', 'p99 ms (16 conns)'],
  ],
};

function markdownTable(headers: string[], rows: unknown[][]): string {
  const line = (cells: unknown[]) => `| ${cells.map((c) => (typeof c === 'string' ? c : fmt(c))).join(' | ')} |`;
  return [line(headers), `|${headers.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

export function tablesFor(r: Report): string {
  const out: string[] = [`### ${r.scenario}`];
  if (r.skipped) {
    out.push(`Skipped: ${r.skipped}`);
    return out.join('\n\n');
  }
  const cols = COLUMNS[r.scenario] ?? Object.keys(r.results[0] ?? {}).map((k) => [k, k] as [string, string]);
  out.push(markdownTable(cols.map((c) => c[1]), r.results.map((row) => cols.map(([k]) => row[k] ?? null))));
  const peers = Object.keys(r.ratios);
  const keys = [...new Set(peers.flatMap((p) => Object.keys(r.ratios[p]!)))];
  if (keys.length) out.push(markdownTable(['figure', ...peers], keys.map((k) => [k, ...peers.map((p) => r.ratios[p]![k] ?? null)])));
  if (r.targets?.length) {
    out.push(markdownTable(['target', 'goal', 'measured', 'met'], r.targets.map((t) => [t.target, t.goal, t.value, t.met === null ? 'n/a' : t.met ? 'met' : 'missed'])));
  }
  if (r.notes?.length) out.push(r.notes.map((n) => `- ${n}`).join('\n'));
  return out.join('\n\n');
}

if (process.argv[1]?.endsWith('results-tables.ts')) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: tsx bench/results-tables.ts <report.json>\n');
    process.exit(2);
  }
  const report = readReportFile<Report>(file);
  process.stdout.write(`${(report.runs ?? [report]).map(tablesFor).join('\n\n')}\n`);
}
