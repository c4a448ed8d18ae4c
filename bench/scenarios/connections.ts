/**
 * `connections`: server memory per idle authenticated connection.
 *
 * Each system gets one server and a world of one guild (one channel; one account per
 * `--sessions-per-user` connections). After a warm-up batch of connections (so pools, JIT and lazy
 * structures exist in the baseline) the server's memory is sampled — RSS from /proc, heap through
 * the preloaded probe, both after a forced GC — and again at each size of the sweep. Per-connection
 * figures are slopes fitted through all sizes measured so far (see row()).
 * Guildhall connections IDENTIFY (token, READY, topic subscriptions); Socket.IO ones pass a
 * verified token and join the room; uws-raw ones subscribe.
 *
 * Every connection is a socket in the server and in this process, so the largest size is capped
 * below RLIMIT_NOFILE of both (reported in params.cappedBy when it applies).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Options } from '../lib/args.ts';
import { openFilesLimit } from '../lib/machine.ts';
import { sleep } from '../lib/progress.ts';
import { computeRatios, formatRatios, formatTargets, table, type ResultRow, type TargetCheck } from '../lib/report.ts';
import type { Scenario, ScenarioContext, ScenarioOutcome } from '../lib/scenario.ts';
import { LoadPool, split } from '../load/load-pool.ts';
import { SYSTEMS, startSystem, type SystemName } from '../systems/index.ts';
import { roundRobinSpecs } from '../systems/system.ts';
import type { MemorySample } from '../systems/server-process.ts';

export interface ConnectionsParams {
  systems: SystemName[];
  connections: number[];
  warmup: number;
  /** Accounts in the guild: enough that no account holds more than `sessionsPerUser` connections. */
  users: number;
  sessionsPerUser: number;
  workers: number;
  settleMs: number;
  /** Write heap snapshots of each server at the baseline and at the largest size. */
  heapSnapshots: boolean;
  /** Largest size actually used, after the open-files cap. */
  maxConnections: number;
  cappedBy: string | null;
}

const SNAPSHOT_DIR = fileURLToPath(new URL('../../.bench-out/profiles/', import.meta.url));

/** File descriptors kept free in each process besides the connections (pools, pipes, libuv). */
const FD_MARGIN = 400;

export const connections: Scenario<ConnectionsParams> = {
  name: 'connections',
  description: 'server memory (RSS and heap) per idle authenticated connection, up to ~20,000 connections',
  usage: [
    '--connections 1000,5000,10000,20000   sizes to sweep (capped below the open-files limit)',
    '--sessions-per-user 50   connections per account (accounts = max(10, N/this))',
    '--settle 10000          ms of idle before each memory sample (1000 inside `all`)',
    '--warmup 200 --workers 2 --systems guildhall,uws-raw,socketio',
    '--heap-snapshots        write server heap snapshots (baseline, largest size) to .bench-out/profiles/',
    '                        compare them with: tsx bench/heap-diff.ts <baseline> <largest> <connections>',
  ],
  params(o: Options, inAll: boolean): ConnectionsParams {
    // In `all`, 10,000: Guildhall connects at ~100-250/s on this machine (see RESULTS.md).
    const requested = o.intList('connections', inAll ? [1000, 5000, 10_000] : [1000, 5000, 10_000, 20_000], 1, 1_000_000).sort((a, b) => a - b);
    const warmup = o.int('warmup', 200, 1, 10_000);
    const limit = openFilesLimit();
    const cap = limit ? limit.soft - FD_MARGIN - warmup : Number.MAX_SAFE_INTEGER;
    const sizes = [...new Set(requested.map((n) => Math.min(n, cap)))].filter((n) => n > 0);
    const p = {
      systems: o.choiceList('systems', SYSTEMS, SYSTEMS),
      connections: sizes,
      warmup,
      users: 0,
      sessionsPerUser: o.int('sessions-per-user', 50, 1, 100_000),
      workers: o.int('workers', 2, 1, 8),
      // V8 gives back heap it grew during a burst of connects only after some idle seconds.
      settleMs: o.int('settle', inAll ? 1000 : 10_000, 0, 120_000),
      heapSnapshots: o.flag('heap-snapshots'),
      maxConnections: Math.max(...sizes),
      cappedBy: requested.some((n) => n > cap) && limit ? `RLIMIT_NOFILE ${limit.soft} (hard ${limit.hard}) per process` : null,
    };
    p.users = Math.max(10, Math.ceil((p.maxConnections + warmup) / p.sessionsPerUser));
    return p;
  },
  run: runConnections,
};

async function runConnections(p: ConnectionsParams, ctx: ScenarioContext): Promise<ScenarioOutcome> {
  const results: ResultRow[] = [];
  const notes: string[] = [];
  if (p.heapSnapshots) notes.push('heap snapshots were taken: writing one grows RSS, so the RSS figures of this run are not comparable');
  if (p.cappedBy) {
    notes.push(`largest size capped at ${p.maxConnections} by ${p.cappedBy}: server and load generator each hold one descriptor per connection`);
  }
  for (const system of p.systems) results.push(...(await runSystem(system, p, ctx)));
  const ratios = computeRatios(results, ['rssBytesPerConn', 'heapBytesPerConn'], (r) => `connections=${r.connections}`);
  const targets = connectionTargets(results);
  const summary = [
    table(
      ['system', 'connections', 'RSS B/conn', 'heap B/conn', 'external B/conn', 'RSS MiB', 'heap MiB', 'connect/s'],
      results.map((r) => [r.system, r.connections, r.rssBytesPerConn, r.heapBytesPerConn, r.externalBytesPerConn, r.rssMiB, r.heapMiB, r.connectPerSec]),
    ),
    '',
    formatRatios(ratios),
    '',
    formatTargets(targets),
  ].join('\n');
  return { results, ratios, targets, notes, summary };
}

async function runSystem(system: SystemName, p: ConnectionsParams, ctx: ScenarioContext): Promise<ResultRow[]> {
  const { progress } = ctx;
  progress.step(`connections ${system}: starting server`);
  const sys = await startSystem(system, { persist: false, cpuProfileDir: ctx.cpuProfileDir, engine: ctx.engine });
  let pool: LoadPool | null = null;
  const rows: ResultRow[] = [];
  try {
    const world = await sys.createWorld({ groups: 1, channelsPerGroup: 1, usersPerGroup: p.users });
    const group = world.groups[0]!;
    const spec = roundRobinSpecs(sys, group);
    pool = await LoadPool.start(p.workers);
    const connect = async (count: number, label: string) => {
      const parts = split(Array.from({ length: count }, spec), p.workers);
      const started = Date.now();
      const ticker = setInterval(() => progress.update(`${label} (${Math.round((Date.now() - started) / 1000)} s)`), 500);
      try {
        const res = await Promise.all(pool!.workers.map((w, i) => w.connect(parts[i]!, 'count', 128)));
        for (const r of res) {
          if (r.failed) throw new Error(`${system}: ${r.failed} connections failed (${r.firstError})\nserver log:\n${sys.server.logTail().slice(-3000)}`);
        }
      } finally {
        clearInterval(ticker);
      }
      return (Date.now() - started) / 1000;
    };

    await connect(p.warmup, `connections ${system}: warm-up`);
    await sleep(p.settleMs);
    const base = await sys.server.memory();
    const snapshot = async (label: string) => {
      if (!p.heapSnapshots) return;
      mkdirSync(SNAPSHOT_DIR, { recursive: true });
      const file = await sys.server.heapSnapshot(path.join(SNAPSHOT_DIR, `${system}-${label}.heapsnapshot`));
      progress.note(`connections ${system}: heap snapshot ${file}`);
    };
    await snapshot('baseline');
    let open = 0;
    let prev = base;
    const points: { n: number; m: MemorySample }[] = [{ n: 0, m: base }];
    for (const n of p.connections) {
      progress.step(`connections ${system}: connecting to ${n}`);
      const seconds = await connect(n - open, `connections ${system}: ${open} → ${n}`);
      const added = n - open;
      open = n;
      await sleep(p.settleMs);
      const m = await sys.server.memory();
      points.push({ n, m });
      rows.push(row(system, n, open - added, prev, base, m, added / seconds, points));
      prev = m;
      progress.note(
        `connections ${system} N=${n}: ${rows.at(-1)!.rssBytesPerConn} B RSS/conn, ${rows.at(-1)!.heapBytesPerConn} B heap/conn ` +
          `(RSS ${(m.rssBytes / 2 ** 20).toFixed(1)} MiB)`,
      );
    }
    await snapshot(`n${open}`);
  } finally {
    progress.step(`connections ${system}: stopping`);
    await pool?.close();
    await sys.stop();
  }
  return rows;
}

/**
 * Figures at `n` connections. `rssBytesPerConn` and `heapBytesPerConn` are the slope of a
 * least-squares line through every size measured so far (through the baseline and the first size
 * while there is only one): RSS moves in steps — the allocator keeps or returns freed memory (the
 * baseline still holds argon2's buffers from registering the accounts, often returned later), V8
 * grows its heap in chunks — and a fitted slope is far less sensitive to one noisy sample than a
 * difference of two. `…Marginal` are the growth since the previous size over the connections
 * added; `…FromBaseline` the plain averages since the baseline.
 */
function row(
  system: SystemName, n: number, prevN: number, prev: MemorySample, base: MemorySample, m: MemorySample, connectPerSec: number,
  points: readonly { n: number; m: MemorySample }[],
): ResultRow {
  const per = (a: number, b: number, count: number) => Math.round((b - a) / count);
  const added = n - prevN;
  return {
    system,
    connections: n,
    rssBytesPerConn: Math.round(slope(fitted(points).map((q) => [q.n, q.m.rssBytes]))),
    heapBytesPerConn: Math.round(slope(fitted(points).map((q) => [q.n, q.m.heapUsedBytes]))),
    rssBytesPerConnMarginal: per(prev.rssBytes, m.rssBytes, added),
    heapBytesPerConnMarginal: per(prev.heapUsedBytes, m.heapUsedBytes, added),
    heapTotalBytesPerConn: per(prev.heapTotalBytes, m.heapTotalBytes, added),
    externalBytesPerConn: per(prev.externalBytes + prev.arrayBuffersBytes, m.externalBytes + m.arrayBuffersBytes, added),
    rssBytesPerConnFromBaseline: per(base.rssBytes, m.rssBytes, n),
    heapBytesPerConnFromBaseline: per(base.heapUsedBytes, m.heapUsedBytes, n),
    marginalOver: `${prevN}→${n}`,
    rssMiB: Math.round((m.rssBytes / 2 ** 20) * 10) / 10,
    heapMiB: Math.round((m.heapUsedBytes / 2 ** 20) * 10) / 10,
    baselineRssMiB: Math.round((base.rssBytes / 2 ** 20) * 10) / 10,
    gcBeforeSample: m.gcRan,
    connectPerSec: Math.round(connectPerSec),
  };
}

/** The points a slope is fitted through: the measured sizes, or baseline and size while only one. */
function fitted<T>(points: readonly T[]): readonly T[] {
  return points.length > 2 ? points.slice(1) : points;
}

/** Least-squares slope of y over x. */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den > 0 ? num / den : 0;
}

function connectionTargets(rows: readonly ResultRow[]): TargetCheck[] {
  const mine = rows.filter((r) => r.system === 'guildhall');
  const largest = mine.at(-1);
  if (!largest) return [];
  const v = largest.rssBytesPerConn as number;
  const from = mine.length > 1 ? mine[0]!.connections : 0;
  // RSS grows in steps; when the growth between sizes swings widely the slope says little.
  const marginals = mine.slice(1).map((r) => r.rssBytesPerConnMarginal as number);
  const steady = marginals.length === 0 || (Math.min(...marginals) > 0 && Math.max(...marginals) <= 2 * Math.min(...marginals));
  return [{
    target: `server memory per idle authenticated connection (RSS slope, ${from}→${largest.connections})`,
    goal: steady ? '≤ 4096 B' : '≤ 4096 B (inconclusive: RSS growth between sizes varied more than 2×)',
    value: v,
    met: steady ? v <= 4096 : null,
  }];
}
