/**
 * `npm run bench -- <scenario> [options] [--json]`
 *
 * Runs one scenario (or `all`) against Guildhall and its peers and prints a human summary, or with
 * --json exactly one JSON object on stdout (progress and warnings go to stderr). Every process and
 * thread it starts is stopped on success, error and Ctrl-C. Exit code: 0 on success, 1 on failure,
 * 2 on a usage error.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Options, parseArgs, UsageError } from './lib/args.ts';
import { killAllNow, liveChildren } from './lib/children.ts';
import { environment, waitForQuiet } from './lib/environment.ts';
import { machineInfo } from './lib/machine.ts';
import { stopBenchRedis } from './lib/private-redis.ts';
import { Progress } from './lib/progress.ts';
import type { AllReport, ScenarioReport, TargetCheck } from './lib/report.ts';
import { formatRatios, formatTargets } from './lib/report.ts';
import type { Scenario, ScenarioContext } from './lib/scenario.ts';
import { connections } from './scenarios/connections.ts';
import { fanout } from './scenarios/fanout.ts';
import { history } from './scenarios/history.ts';
import { micro } from './scenarios/micro.ts';
import { reconnect } from './scenarios/reconnect.ts';
import { throughput } from './scenarios/throughput.ts';

const SCENARIOS: readonly Scenario<any>[] = [micro, fanout, throughput, connections, reconnect, history];
const PROFILE_DIR = fileURLToPath(new URL('../.bench-out/profiles/', import.meta.url));

function usage(): string {
  const lines = [
    'usage: npm run bench -- <scenario> [options] [--json]',
    '',
    'scenarios:',
    ...SCENARIOS.map((s) => `  ${s.name.padEnd(12)} ${s.description}`),
    `  ${'all'.padEnd(12)} every scenario above, one after the other, at sizes that fit in 10 minutes on 2 cores`,
    '',
    'common options:',
    '  --json         print one JSON object on stdout (for `all`: {"scenario":"all","runs":[…]})',
    '  --profile      write V8 CPU profiles of the servers under test to .bench-out/profiles/',
    '                 (summarise one with: tsx bench/profile-top.ts <profile directory>)',
    '  --engine tsx|build  run Guildhall through tsx (default, like `npm start`) or compiled with tsc',
    '  --quiet        no progress on stderr',
    '  --wait-quiet S before each scenario, wait up to S seconds for the machine to be idle (shared machines)',
    '  --timeout S    stop everything and fail after S seconds in total (default 1800)',
    '',
    ...SCENARIOS.flatMap((s) => (s.usage.length ? [`${s.name} options:`, ...s.usage.map((u) => `  ${u}`), ''] : [])),
  ];
  return lines.join('\n');
}

async function runOne(scenario: Scenario<any>, params: object, ctx: ScenarioContext, waitQuietSec: number): Promise<ScenarioReport> {
  if (waitQuietSec > 0) {
    const waited = await waitForQuiet(waitQuietSec, 0.15, (busy) => ctx.progress.update(`${scenario.name}: waiting for an idle machine (${Math.round(busy * 100)}% busy)`));
    if (waited === null) ctx.progress.note(`${scenario.name}: the machine did not become idle within ${waitQuietSec} s; running anyway`);
  }
  const env = await environment(ctx.engine);
  if (env.backgroundCpuBusy > 0.15) {
    ctx.progress.note(`warning: the machine was ${Math.round(env.backgroundCpuBusy * 100)}% busy before ${scenario.name} started; other processes will disturb the figures`);
  }
  const started = new Date();
  const outcome = await scenario.run(params, ctx);
  return {
    scenario: scenario.name,
    params: params as Record<string, unknown>,
    machine: machineInfo(),
    environment: env,
    results: outcome.results,
    ratios: outcome.ratios,
    ...(outcome.targets ? { targets: outcome.targets } : {}),
    ...(outcome.notes?.length ? { notes: outcome.notes } : {}),
    startedAt: started.toISOString(),
    durationSec: Math.round((Date.now() - started.getTime()) / 100) / 10,
    summary: outcome.summary,
  } as ScenarioReport & { summary: string };
}

function printHuman(report: ScenarioReport & { summary?: string }): void {
  const out: string[] = [`\n== ${report.scenario} (${report.durationSec} s) ==`];
  if (report.summary) out.push(report.summary.trim());
  if (report.notes?.length) out.push('', 'notes:', ...report.notes.map((n) => `  - ${n}`));
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main(): Promise<number> {
  const { scenario: name, options: raw } = parseArgs(process.argv.slice(2));
  const options = new Options(raw);
  const json = options.flag('json');
  const quiet = options.flag('quiet');
  const profile = options.flag('profile');
  const waitQuietSec = options.number('wait-quiet', 0, 0, 3600);
  const timeoutSec = options.number('timeout', 1800, 10, 86_400);
  setTimeout(() => {
    process.stderr.write(`\nbench: --timeout ${timeoutSec} s reached, stopping every process it started\n`);
    killAllNow();
    process.exit(1);
  }, timeoutSec * 1000).unref();
  const engine = options.string('engine', 'tsx');
  if (engine !== 'tsx' && engine !== 'build') throw new UsageError('--engine must be tsx or build');
  if (options.flag('help') || name === null || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === null && !raw.has('help') ? 2 : 0;
  }
  const chosen = name === 'all' ? SCENARIOS : SCENARIOS.filter((s) => s.name === name);
  if (chosen.length === 0) throw new UsageError(`unknown scenario '${name}' (try --help)`);
  const params = chosen.map((s) => s.params(options, name === 'all'));
  options.done();

  const progress = new Progress(!quiet);
  const ctx: ScenarioContext = { progress, engine };
  if (profile) {
    mkdirSync(PROFILE_DIR, { recursive: true });
    ctx.cpuProfileDir = PROFILE_DIR;
  }
  const machine = machineInfo();
  const nofile = machine.openFilesLimit;
  if (nofile && nofile.soft < 25_000) {
    progress.note(`note: open-files limit is ${nofile.soft} (hard ${nofile.hard}); the connections scenario caps its largest size below it`);
  }

  const started = new Date();
  const reports: (ScenarioReport & { summary?: string })[] = [];
  for (let i = 0; i < chosen.length; i++) {
    const report = await runOne(chosen[i]!, params[i]!, ctx, waitQuietSec);
    reports.push(report);
    progress.done();
    if (!json) printHuman(report);
  }
  progress.done();

  const strip = ({ summary: _s, ...r }: ScenarioReport & { summary?: string }): ScenarioReport => r;
  if (json) {
    if (name === 'all') {
      const ratios: AllReport['ratios'] = {};
      for (const r of reports) {
        for (const [peer, tableOf] of Object.entries(r.ratios)) {
          const t = (ratios[peer] ??= {});
          for (const [k, v] of Object.entries(tableOf)) t[`${r.scenario}.${k}`] = v;
        }
      }
      const all: AllReport = {
        scenario: 'all',
        params: Object.fromEntries(reports.map((r) => [r.scenario, r.params])),
        machine,
        runs: reports.map(strip),
        ratios,
        targets: reports.flatMap((r) => r.targets ?? []),
        startedAt: started.toISOString(),
        durationSec: Math.round((Date.now() - started.getTime()) / 100) / 10,
      };
      process.stdout.write(`${JSON.stringify(all)}\n`);
    } else {
      process.stdout.write(`${JSON.stringify(strip(reports[0]!))}\n`);
    }
  } else if (name === 'all') {
    const targets: TargetCheck[] = reports.flatMap((r) => r.targets ?? []);
    const ratios = reports.map((r) => (Object.keys(r.ratios).length ? `${r.scenario}:\n${formatRatios(r.ratios)}` : '')).filter(Boolean);
    process.stdout.write(`\n== all: ratios ==\n${ratios.join('\n\n')}\n\n== all: targets ==\n${formatTargets(targets)}\n`);
  }
  return 0;
}

main().then(
  async (code) => {
    await stopBenchRedis();
    killAllNow();
    if (liveChildren() > 0) process.stderr.write('bench: some processes did not stop\n');
    process.exit(code);
  },
  (err: unknown) => {
    killAllNow();
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n\n${usage()}\n`);
      process.exit(2);
    }
    process.stderr.write(`\nbench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
