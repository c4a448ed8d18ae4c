/**
 * Command-line parsing for `npm run bench -- <scenario> [options]`. Options are `--name value`,
 * `--name=value` or bare `--flag`; lists are comma-separated. Unknown options are rejected by the
 * caller (each scenario declares what it reads), so a typo never silently runs the default.
 */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ParsedArgs {
  scenario: string | null;
  options: Map<string, string | true>;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  let scenario: string | null = null;
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      if (eq > 2) {
        options.set(arg.slice(2, eq), arg.slice(eq + 1));
      } else {
        const next = argv[i + 1];
        if (next !== undefined && !next.startsWith('--') && !BOOLEAN_FLAGS.has(arg.slice(2))) {
          options.set(arg.slice(2), next);
          i++;
        } else {
          options.set(arg.slice(2), true);
        }
      }
    } else if (scenario === null) {
      scenario = arg;
    } else {
      throw new UsageError(`unexpected argument '${arg}'`);
    }
  }
  return { scenario, options };
}

/** Boolean flags never take a value, so `--json fanout` keeps `fanout` as the scenario. */
const BOOLEAN_FLAGS = new Set(['json', 'help', 'profile', 'quiet', 'no-progress']);

/** Typed, validated reads of the options a scenario accepts; `done()` rejects anything left unread. */
export class Options {
  private readonly read = new Set<string>(['json', 'help', 'quiet', 'no-progress']);

  constructor(private readonly options: Map<string, string | true>) {}

  flag(name: string): boolean {
    this.read.add(name);
    const v = this.options.get(name);
    if (v === undefined) return false;
    if (v === true || v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new UsageError(`--${name} is a flag (no value)`);
  }

  number(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    this.read.add(name);
    const v = this.options.get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (v === true || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}`);
    return n;
  }

  int(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const n = this.number(name, fallback, min, max);
    if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer`);
    return n;
  }

  string(name: string, fallback: string | null): string | null {
    this.read.add(name);
    const v = this.options.get(name);
    if (v === undefined) return fallback;
    if (v === true) throw new UsageError(`--${name} needs a value`);
    return v;
  }

  intList(name: string, fallback: readonly number[], min = 1, max = 1_000_000): number[] {
    this.read.add(name);
    const v = this.options.get(name);
    if (v === undefined) return [...fallback];
    if (v === true) throw new UsageError(`--${name} needs a comma-separated list of integers`);
    const list = v.split(',').map((s) => Number(s.trim()));
    if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < min || n > max)) {
      throw new UsageError(`--${name} must be a comma-separated list of integers from ${min} to ${max}`);
    }
    return list;
  }

  choiceList<T extends string>(name: string, allowed: readonly T[], fallback: readonly T[]): T[] {
    this.read.add(name);
    const v = this.options.get(name);
    if (v === undefined) return [...fallback];
    if (v === true) throw new UsageError(`--${name} needs a comma-separated list of: ${allowed.join(', ')}`);
    const list = v.split(',').map((s) => s.trim());
    for (const item of list) if (!allowed.includes(item as T)) throw new UsageError(`--${name}: '${item}' is not one of ${allowed.join(', ')}`);
    return list as T[];
  }

  /** Throws UsageError naming the first option nothing read. */
  done(): void {
    for (const key of this.options.keys()) if (!this.read.has(key)) throw new UsageError(`unknown option --${key}`);
  }
}
