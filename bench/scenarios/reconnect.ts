/**
 * `reconnect`: N clients drop and come back at once; time until all have resumed and caught up.
 *
 * For each system one server, one guild (one channel, one account per `--sessions-per-user`
 * clients, 16 by default: Guildhall keeps at most 16 detached sessions per user) and, per size, N fresh clients in the receiver workers; worker 0 holds one sender that
 * posts to the channel at a fixed open-loop rate for the whole measurement. The clients follow
 * what a resume needs (`track` mode: the newest bench message seen; Guildhall: READY's resumeId and
 * the position of every stream, walked from each DISPATCH without decoding; Socket.IO: the offset
 * of the last room event). Then:
 * 1. drop — every client's TCP connection is reset at once, without a close frame (the server sees
 *    an abnormal close, so the sessions stay resumable);
 * 2. away — `--away` ms while messages keep flowing;
 * 3. storm — the newest message the sender had acknowledged becomes the target, and every client
 *    reconnects at once: Guildhall sends RESUME with its resumeId and stream positions (the server
 *    replays what was missed, then RESUMED); Socket.IO reconnects with its `pid` and last offset,
 *    connection state recovery on (the server replays missed room events before its CONNECT
 *    reply); uws-raw just reconnects and subscribes (no auth, no replay: the floor for a storm);
 * 4. caught up — each client has completed its handshake and has seen the target message;
 * 5. after the sender stops and deliveries settle, every client's messages received since the drop
 *    are compared with what was sent after the newest message it had seen: `lostEvents` (a system
 *    without replay loses what was sent while a client was away) and `duplicateEvents`.
 *
 * Figures: `resumedAllMs` (drop → every client back: RESUMED / CONNECT reply / upgrade),
 * `caughtUpAllMs` (drop → every client back and holding the target message), `reconnectAllMs`
 * (first reconnect → every client back), per-client `resumeP50Ms`/`resumeP99Ms` (its reconnect
 * start → back), `replayedEvents`, `resyncs`, `recovered` sessions, `failed` clients.
 */
import type { Options } from '../lib/args.ts';
import { coresBetween, cpuMsByPid, pidsByName } from '../lib/machine.ts';
import { sourceAddresses } from '../lib/net-util.ts';
import { sleep, waitWithProgress } from '../lib/progress.ts';
import { computeRatios, formatRatios, table, type ResultRow } from '../lib/report.ts';
import type { Scenario, ScenarioContext, ScenarioOutcome } from '../lib/scenario.ts';
import { round, summarise } from '../lib/stats.ts';
import { LoadPool, split } from '../load/load-pool.ts';
import { between, drain, mark, startMachineSample } from '../load/measure.ts';
import type { PacerState, ReconnectResult } from '../load/worker-protocol.ts';
import { SYSTEMS, startSystem, type RunningSystem, type SystemName } from '../systems/index.ts';
import { roundRobinSpecs } from '../systems/system.ts';

export interface ReconnectParams {
  systems: SystemName[];
  clients: number[];
  /** Messages per second of the sender; 0: 50,000 deliveries/s spread over N, 5 … 200 msg/s. */
  sendRate: number;
  awayMs: number;
  warmupSec: number;
  stormTimeoutSec: number;
  receiverWorkers: number;
  contentSize: number;
  /** Accounts in the guild: enough that no account holds more than `sessionsPerUser` clients. */
  users: number;
  sessionsPerUser: number;
}

const ELU_SATURATED = 0.9;
/** How long Socket.IO's connection state recovery keeps a dropped session (Guildhall keeps its default RESUME_WINDOW_MS, 120 s). */
const SOCKETIO_RECOVERY_MS = 120_000;

export const reconnect: Scenario<ReconnectParams> = {
  name: 'reconnect',
  description: 'N clients drop at once and resume: time until all are back and caught up, replay, lost events',
  usage: [
    '--clients 1000          clients that drop and resume together (list to sweep: 1000,5000; `all`: 500)',
    '--send-rate 0           sender msg/s during the run (0: 50,000 deliveries/s over N, within 5…200)',
    '--away 500              ms between the drop and the reconnect (messages keep flowing)',
    '--warmup 1              seconds of sending before the drop',
    '--storm-timeout 60      seconds a storm may take before clients count as failed',
    '--sessions-per-user 16   clients per account (the engine keeps RESUME_MAX_DETACHED_PER_USER, default 16, detached sessions per user)',
    '--receivers 2 --content 100',
    '--systems guildhall,uws-raw,socketio',
  ],
  params(o: Options, inAll: boolean): ReconnectParams {
    const p = {
      systems: o.choiceList('systems', SYSTEMS, SYSTEMS),
      clients: o.intList('clients', inAll ? [500] : [1000], 1, 19_000).sort((a, b) => a - b),
      sendRate: o.number('send-rate', 0, 0, 100_000),
      awayMs: o.int('away', 500, 0, 60_000),
      warmupSec: o.number('warmup', 1, 0.2, 60),
      stormTimeoutSec: o.number('storm-timeout', inAll ? 30 : 60, 1, 600),
      receiverWorkers: o.int('receivers', 2, 1, 8),
      contentSize: o.int('content', 100, 16, 4000),
      users: 0,
      // Guildhall keeps at most RESUME_MAX_DETACHED_PER_USER (default 16) detached sessions per
      // user: more clients per account dropping at once would lose the oldest sessions by design.
      sessionsPerUser: o.int('sessions-per-user', 16, 1, 100_000),
    };
    p.users = Math.max(2, Math.ceil(Math.max(...p.clients) / p.sessionsPerUser));
    return p;
  },
  run: runReconnect,
};

/** The sender's rate at size `n`. */
function rateFor(p: ReconnectParams, n: number): number {
  if (p.sendRate > 0) return p.sendRate;
  return Math.min(200, Math.max(5, Math.round(50_000 / n)));
}

async function runReconnect(p: ReconnectParams, ctx: ScenarioContext): Promise<ScenarioOutcome> {
  const results: ResultRow[] = [];
  const notes: string[] = [];
  for (const system of p.systems) results.push(...(await runSystem(system, p, ctx, notes)));
  const ratios = computeRatios(results, ['resumedAllMs', 'caughtUpAllMs', 'reconnectAllMs', 'resumeP99Ms'], (r) => `clients=${r.clients}`);
  const summary = [
    table(
      ['system', 'N', 'msg/s', 'resumed all ms', 'caught up ms', 'reconnect ms', 'p50 ms', 'p99 ms', 'recovered', 'replayed', 'resyncs', 'lost', 'failed', 'server cores', 'client-bound'],
      results.map((r) => [
        r.system, r.clients, r.sendRate, r.resumedAllMs, r.caughtUpAllMs, r.reconnectAllMs, r.resumeP50Ms, r.resumeP99Ms,
        r.recovered, r.replayedEvents, r.resyncs, r.lostEvents, r.failed, r.serverCores, r.clientBound,
      ]),
    ),
    '',
    `times from the drop; clients stayed away ${p.awayMs} ms (resumed/caught up include it, reconnect and p50/p99 do not)`,
    '',
    formatRatios(ratios),
  ].join('\n');
  return { results, ratios, notes, summary };
}

async function runSystem(system: SystemName, p: ReconnectParams, ctx: ScenarioContext, notes: string[]): Promise<ResultRow[]> {
  const { progress } = ctx;
  progress.step(`reconnect ${system}: starting server`);
  // Socket.IO replays only with connection state recovery, which is off in the other scenarios.
  const env = system === 'socketio' ? { RECOVERY_MS: String(SOCKETIO_RECOVERY_MS) } : undefined;
  const sys = await startSystem(system, { persist: false, cpuProfileDir: ctx.cpuProfileDir, engine: ctx.engine, env });
  let pool: LoadPool | null = null;
  const rows: ResultRow[] = [];
  try {
    progress.update(`reconnect ${system}: creating ${p.users} accounts and the guild`);
    const world = await sys.createWorld({ groups: 1, channelsPerGroup: 1, usersPerGroup: p.users });
    const group = world.groups[0]!;
    const spec = roundRobinSpecs(sys, group);
    pool = await LoadPool.start(1 + p.receiverWorkers);
    const driver = pool.workers[0]!;
    const receivers = pool.workers.slice(1);
    await Promise.all(receivers.map((w) => w.call({ op: 'probeMode', mode: 'track' })));
    const sender = sys.connSpec(group, group.members[0]!, { localAddress: sourceAddresses(1)[0] });
    expectConnected(await driver.connect([sender], 'sender'), system, 'sender', sys);

    for (const n of p.clients) {
      progress.update(`reconnect ${system} N=${n}: connecting clients`);
      const parts = split(Array.from({ length: n }, spec), receivers.length);
      const res = await Promise.all(receivers.map((w, k) => w.connect(parts[k]!, 'probe', 128)));
      for (const r of res) expectConnected(r, system, `clients (N=${n})`, sys);
      await sleep(300);
      rows.push(await storm(system, n, p, pool, sys, ctx, notes));
      await Promise.all(receivers.map((w) => w.call({ op: 'closeRole', role: 'probe' })));
      await sleep(500);
    }
  } finally {
    progress.step(`reconnect ${system}: stopping`);
    await pool?.close();
    await sys.stop();
  }
  return rows;
}

async function storm(system: SystemName, n: number, p: ReconnectParams, pool: LoadPool, sys: RunningSystem, ctx: ScenarioContext, notes: string[]): Promise<ResultRow> {
  const { progress } = ctx;
  const driver = pool.workers[0]!;
  const receivers = pool.workers.slice(1);
  const rate = rateFor(p, n);
  const label = `reconnect ${system} N=${n}`;

  await pool.all({ op: 'reset' });
  await driver.call({ op: 'fanoutRate', msgsPerSec: rate, contentSize: p.contentSize });
  await waitWithProgress(progress, `${label}: ${rate} msg/s before the drop`, p.warmupSec * 1000);

  // 1. Drop every client at once.
  startMachineSample();
  const redisA = cpuMsByPid(pidsByName('redis-server'));
  const a = await mark(pool, sys.server);
  const dropped = await Promise.all(receivers.map((w) => w.call<{ dropped: number; withoutResumeState: number; minSeq: number }>({ op: 'drop', role: 'probe' })));
  const withoutState = dropped.reduce((s, d) => s + d.withoutResumeState, 0);
  if (system !== 'uws-raw' && withoutState > 0) {
    notes.push(`${label}: ${withoutState} clients had nothing to resume with (no resumeId / no event offset yet); they connect afresh`);
  }
  if (Math.min(...dropped.map((d) => d.minSeq)) < 0) notes.push(`${label}: some clients had received no message before the drop`);

  // 2. Away while the sender keeps going.
  progress.update(`${label}: ${n} clients away for ${p.awayMs} ms`);
  await sleep(p.awayMs);

  // 3. Everybody back at once; wait until each is back and has the target message.
  const pacer = await driver.call<PacerState>({ op: 'pacer' });
  const target = pacer.lastAckedSeq;
  progress.update(`${label}: reconnect storm`);
  await Promise.all(receivers.map((w) => w.call({ op: 'reconnect', role: 'probe', target, timeoutMs: p.stormTimeoutSec * 1000 })));
  const b = await mark(pool, sys.server);
  const w = between(a, b, ['probe']);
  // Guildhall verifies tokens and opens presence sessions in Redis on every RESUME: its Redis is
  // part of the system under test, not a disturbance (every redis-server of the machine is counted).
  const redisCores = coresBetween(redisA, cpuMsByPid(pidsByName('redis-server')), w.seconds);
  // Postgres backends the server opened during the storm are missing from the first mark; all of
  // their CPU time falls inside the window.
  let newPgMs = 0;
  for (const [pid, ms] of cpuMsByPid(pidsByName('postgres'))) if (!a.postgresCpu.has(pid)) newPgMs += ms;
  const newPgCores = newPgMs / 1000 / w.seconds;
  w.postgresCores += newPgCores;
  w.otherCores = Math.max(0, w.otherCores - redisCores - newPgCores);

  // 4. Stop sending, let deliveries settle, then count what each client received since the drop.
  const stopped = await driver.call<{ sent: number; lastSeq: number }>({ op: 'stop' });
  progress.update(`${label}: draining`);
  const drained = await drain(pool, ['probe'], { timeoutMs: 10_000, quietMs: 500 });
  const parts = await Promise.all(receivers.map((wk) => wk.call<ReconnectResult>({ op: 'reconnectResult' })));

  const t0 = Math.min(...parts.map((r) => r.droppedAt));
  const reconnectAt = Math.min(...parts.map((r) => r.reconnectAt));
  const resumeMs: number[] = [];
  let lastResumed = -Infinity;
  let lastCaughtUp = -Infinity;
  let back = 0;
  let notCaughtUp = 0;
  let recovered = 0;
  let replayed = 0;
  let resyncs = 0;
  let lost = 0;
  let duplicates = 0;
  let failed = 0;
  let retried = 0;
  let firstError = '';
  for (const r of parts) {
    failed += r.failed;
    retried += r.retried;
    firstError ||= r.firstError;
    for (let i = 0; i < r.resumedAt.length; i++) {
      const resumedAt = r.resumedAt[i]!;
      if (Number.isNaN(resumedAt)) continue;
      back++;
      resumeMs.push(resumedAt - r.startAt[i]!);
      lastResumed = Math.max(lastResumed, resumedAt);
      if (Number.isNaN(r.caughtUpAt[i]!)) notCaughtUp++;
      else lastCaughtUp = Math.max(lastCaughtUp, r.caughtUpAt[i]!);
      recovered += r.recovered[i]!;
      replayed += r.replayed[i]!;
      resyncs += r.resyncs[i]!;
      const expected = stopped.lastSeq - Math.max(0, r.seqAtDrop[i]!);
      const got = r.received[i]!;
      if (got < expected) lost += expected - got;
      else duplicates += got - expected;
    }
  }
  const s = summarise(resumeMs);
  const everyoneBack = back === n;
  const clientBound = w.workerElu.slice(1).some((e) => e >= ELU_SATURATED);
  if (failed > 0) notes.push(`${label}: ${failed} clients did not come back (${firstError})`);
  if (notCaughtUp > 0) notes.push(`${label}: ${notCaughtUp} clients came back but had not seen the target message within ${p.stormTimeoutSec} s`);
  if (clientBound) {
    notes.push(`${label}: a load worker was saturated during the storm (event-loop use ${w.workerElu.map((e) => e.toFixed(2)).join('/')}); times are upper bounds of the server's`);
  }
  if (w.otherCores > 0.3) notes.push(`${label}: other processes used ${w.otherCores.toFixed(2)} cores during the storm; figures are disturbed`);
  if (!drained.settled) notes.push(`${label}: deliveries did not settle within 10 s after the sender stopped; lostEvents may be overstated`);
  if (system === 'guildhall' && resyncs > 0) notes.push(`${label}: the server asked for ${resyncs} stream resyncs (replay incomplete)`);
  if (duplicates > 0) notes.push(`${label}: clients received ${duplicates} more messages than were sent after their last one (duplicates)`);

  const row: ResultRow = {
    system,
    clients: n,
    sendRate: rate,
    awayMs: p.awayMs,
    resumedAllMs: everyoneBack ? round(lastResumed - t0, 1) : null,
    caughtUpAllMs: everyoneBack && notCaughtUp === 0 ? round(lastCaughtUp - t0, 1) : null,
    reconnectAllMs: everyoneBack ? round(lastResumed - reconnectAt, 1) : null,
    resumeP50Ms: s.p50 === null ? null : round(s.p50, 1),
    resumeP99Ms: s.p99 === null ? null : round(s.p99, 1),
    resumeMaxMs: s.max === null ? null : round(s.max, 1),
    recovered,
    replayedEvents: replayed,
    resyncs,
    lostEvents: lost,
    duplicateEvents: duplicates,
    failed,
    notCaughtUp,
    retried,
    targetSeq: target,
    sentDuringRun: stopped.sent,
    serverCores: round(w.serverCores, 2),
    clientCores: round(w.clientCores, 2),
    postgresCores: round(w.postgresCores, 2),
    redisCores: round(redisCores, 2),
    irqCores: round(w.irqCores, 2),
    otherCores: round(w.otherCores, 2),
    receiverEluMax: round(Math.max(0, ...w.workerElu.slice(1)), 2),
    clientBound,
    stormSec: round(w.seconds, 2),
    ...(firstError ? { firstError } : {}),
  };
  progress.note(
    `${label}: all back ${row.resumedAllMs} ms, caught up ${row.caughtUpAllMs} ms after the drop (p50 ${row.resumeP50Ms} ms, p99 ${row.resumeP99Ms} ms per client); ` +
      `recovered ${recovered}/${n}, replayed ${replayed}, resyncs ${resyncs}, lost ${lost}, failed ${failed}; server ${row.serverCores} cores, workers ${w.workerElu.map((e) => e.toFixed(2)).join('/')}`,
  );
  return row;
}

function expectConnected(r: { connected: number; failed: number; firstError: string }, system: string, what: string, sys: RunningSystem): void {
  if (r.failed > 0) throw new Error(`${system}: ${r.failed} ${what} failed to connect (${r.firstError})\nserver log:\n${sys.server.logTail().slice(-3000)}`);
}
