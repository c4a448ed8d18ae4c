/** What every scenario module exports, and the context the CLI hands it. */
import type { Options } from './args.ts';
import type { Progress } from './progress.ts';
import type { ResultRow, ScenarioReport, TargetCheck } from './report.ts';
import type { EngineRuntime } from '../systems/system.ts';

export interface ScenarioContext {
  progress: Progress;
  /** Directory for server CPU profiles when --profile is given, else undefined. */
  cpuProfileDir?: string;
  /** How Guildhall runs (--engine tsx|build). */
  engine: EngineRuntime;
}

/** What a scenario returns; the CLI adds machine, timing and formatting. */
export interface ScenarioOutcome {
  results: ResultRow[];
  ratios: ScenarioReport['ratios'];
  targets?: TargetCheck[];
  notes?: string[];
  /** Human summary lines (tables) printed without --json. */
  summary: string;
}

export interface Scenario<P extends object = Record<string, unknown>> {
  name: string;
  description: string;
  /** Option help lines, e.g. "--subscribers 100,1000  subscriber counts to sweep". */
  usage: string[];
  /**
   * Reads and validates this scenario's options. The CLI calls it for every scenario it will run
   * (all of them for `all`) and rejects unknown options before anything starts. With `inAll`, the
   * defaults are the smaller sizes that keep `all` under 10 minutes on 2 cores.
   */
  params(options: Options, inAll: boolean): P;
  run(params: P, ctx: ScenarioContext): Promise<ScenarioOutcome>;
}
