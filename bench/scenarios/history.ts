/**
 * `history`: latency of a channel's first page (newest messages: Guildhall serves it from the
 * channel actor's memory) and of an old page (`before` a cursor far back: from Postgres).
 *
 * `--messages` messages are posted to one channel first (through the system itself, so Guildhall's
 * cache holds the newest ones as in production). Then, for each page kind: one connection issuing
 * one request at a time (latency p50/p99), and `--concurrency` connections doing the same (pages/s).
 * The Socket.IO peer answers both from Postgres, as a Socket.IO chat backend typically would;
 * uws-raw has no persistence and takes no part.
 */
import type { Options } from '../lib/args.ts';
import { benchQuery } from '../lib/pg.ts';
import { computeRatios, formatRatios, table, type ResultRow } from '../lib/report.ts';
import type { Scenario, ScenarioContext, ScenarioOutcome } from '../lib/scenario.ts';
import { summarise } from '../lib/stats.ts';
import { LoadPool } from '../load/load-pool.ts';
import type { HistoryResult } from '../load/worker-protocol.ts';
import { startSystem, type SystemName } from '../systems/index.ts';

export interface HistoryParams {
  systems: SystemName[];
  messages: number;
  limit: number;
  durationSec: number;
  concurrency: number;
  maxRequests: number;
}

const HISTORY_SYSTEMS = ['guildhall', 'socketio'] as const satisfies readonly SystemName[];

export const history: Scenario<HistoryParams> = {
  name: 'history',
  description: 'history page latency: the newest page of a hot channel (memory) and an old page (Postgres)',
  usage: [
    '--messages 5000         messages posted to the channel before measuring',
    '--limit 50 --duration 3 --concurrency 16 --max-requests 200000 --systems guildhall,socketio',
  ],
  params(o: Options, inAll: boolean): HistoryParams {
    return {
      systems: o.choiceList('systems', HISTORY_SYSTEMS, HISTORY_SYSTEMS),
      messages: o.int('messages', 5000, 200, 1_000_000),
      limit: o.int('limit', 50, 1, 100),
      durationSec: o.number('duration', inAll ? 2 : 3, 0.5, 600),
      concurrency: o.int('concurrency', 16, 1, 1000),
      maxRequests: o.int('max-requests', 200_000, 10, 1e8),
    };
  },
  run: runHistory,
};

async function runHistory(p: HistoryParams, ctx: ScenarioContext): Promise<ScenarioOutcome> {
  const results: ResultRow[] = [];
  const notes: string[] = [];
  for (const system of p.systems) results.push(...(await runSystem(system, p, ctx, notes)));
  const ratios = computeRatios(results, ['latencyP50Ms', 'latencyP99Ms', 'pagesPerSec'], (r) => `page=${r.page}`);
  const summary = [
    table(
      ['system', 'page', 'source', 'p50 ms', 'p99 ms', 'pages/s', `pages/s x${p.concurrency}`, 'p99 ms x' + p.concurrency],
      results.map((r) => [r.system, r.page, r.source, r.latencyP50Ms, r.latencyP99Ms, r.sequentialPagesPerSec, r.pagesPerSec, r.concurrentP99Ms]),
    ),
    '',
    formatRatios(ratios),
  ].join('\n');
  return { results, ratios, notes, summary };
}

async function runSystem(system: SystemName, p: HistoryParams, ctx: ScenarioContext, notes: string[]): Promise<ResultRow[]> {
  const { progress } = ctx;
  progress.step(`history ${system}: starting server`);
  const sys = await startSystem(system, { persist: true, cpuProfileDir: ctx.cpuProfileDir, engine: ctx.engine });
  let pool: LoadPool | null = null;
  const rows: ResultRow[] = [];
  try {
    const world = await sys.createWorld({ groups: 1, channelsPerGroup: 1, usersPerGroup: 1 });
    const group = world.groups[0]!;
    const member = group.members[0]!;
    const channelId = group.channelIds[0]!;
    progress.step(`history ${system}: posting ${p.messages} messages`);
    if (!sys.seedMessages) throw new Error(`${system} cannot seed messages`);
    const ids = await sys.seedMessages(group, member, channelId, p.messages);
    // Fresh planner statistics, as autovacuum would have them for a table that grew this much.
    await benchQuery('analyze messages');
    // "Far back": a page ending 100 messages after the channel's first message.
    const oldCursor = ids[Math.min(ids.length - 1, 100 + p.limit)]!;

    pool = await LoadPool.start(1);
    const w = pool.workers[0]!;
    const specs = Array.from({ length: p.concurrency }, () => sys.connSpec(group, member, { channelId }));
    const c = await w.connect(specs, 'sender', 32);
    if (c.failed) throw new Error(`${system}: ${c.failed} connections failed (${c.firstError})`);
    for (const page of ['first', 'old'] as const) {
      const before = page === 'first' ? null : oldCursor;
      // Warm-up: hydrates the actor / primes the cache and the connection pool, not measured.
      await w.call({ op: 'history', before, limit: p.limit, durationMs: 300, maxRequests: 200, connections: p.concurrency });
      const seq = await w.call<HistoryResult>({ op: 'history', before, limit: p.limit, durationMs: p.durationSec * 1000, maxRequests: p.maxRequests, connections: 1 });
      const conc = await w.call<HistoryResult>({ op: 'history', before, limit: p.limit, durationMs: p.durationSec * 1000, maxRequests: p.maxRequests, connections: p.concurrency });
      if (seq.failed || conc.failed) notes.push(`history ${system} ${page}: ${seq.failed + conc.failed} requests failed`);
      const s = summarise(seq.samples);
      const cs = summarise(conc.samples);
      rows.push({
        system,
        page,
        source: system === 'guildhall' && page === 'first' ? 'memory' : 'postgres',
        latencyP50Ms: s.p50,
        latencyP99Ms: s.p99,
        latencyMaxMs: s.max,
        requests: seq.ok,
        sequentialPagesPerSec: Math.round((seq.ok * 1000) / seq.elapsedMs),
        pagesPerSec: Math.round((conc.ok * 1000) / conc.elapsedMs),
        concurrentP50Ms: cs.p50,
        concurrentP99Ms: cs.p99,
        concurrency: p.concurrency,
        limit: p.limit,
        channelMessages: ids.length,
      });
      progress.note(`history ${system} ${page} page: p50 ${s.p50} ms p99 ${s.p99} ms; ${rows.at(-1)!.pagesPerSec} pages/s at concurrency ${p.concurrency}`);
    }
  } finally {
    progress.step(`history ${system}: stopping`);
    await pool?.close();
    await sys.stop();
  }
  return rows;
}
