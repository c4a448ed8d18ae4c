/**
 * A small payload validator: each method's payload is described by a schema, and validate()
 * either returns the typed payload or the first problem found, naming the field. Unknown fields
 * are rejected so that typos surface instead of being ignored.
 */
import { isSnowflake } from './ids.ts';

export interface Problem {
  field: string;
  reason: string;
}

export type Check<T> = (value: unknown, field: string) => T | Problem;

const PROBLEM = Symbol('problem');
type Tagged = Problem & { [PROBLEM]: true };
const problem = (field: string, reason: string): Tagged => ({ field, reason, [PROBLEM]: true });
export const isProblem = (v: unknown): v is Problem => typeof v === 'object' && v !== null && PROBLEM in v;

export const snowflake: Check<string> = (v, f) => (isSnowflake(v) ? v : problem(f, 'must be a snowflake id (decimal string)'));

export function string(opts: { min?: number; max: number; trim?: boolean; pattern?: RegExp }): Check<string> {
  return (v, f) => {
    if (typeof v !== 'string') return problem(f, 'must be a string');
    const s = opts.trim ? v.trim() : v;
    if (s.length < (opts.min ?? 0)) return problem(f, `must be at least ${opts.min} characters`);
    if (s.length > opts.max) return problem(f, `must be at most ${opts.max} characters`);
    if (opts.pattern && !opts.pattern.test(s)) return problem(f, `must match ${opts.pattern}`);
    return s;
  };
}

export function integer(min: number, max: number): Check<number> {
  return (v, f) => (Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? (v as number) : problem(f, `must be an integer from ${min} to ${max}`));
}

export const boolean: Check<boolean> = (v, f) => (typeof v === 'boolean' ? v : problem(f, 'must be a boolean'));

export function oneOf<T extends string | number>(...values: T[]): Check<T> {
  return (v, f) => (values.includes(v as T) ? (v as T) : problem(f, `must be one of ${values.join(', ')}`));
}

export function array<T>(item: Check<T>, opts: { min?: number; max: number }): Check<T[]> {
  return (v, f) => {
    if (!Array.isArray(v)) return problem(f, 'must be an array');
    if (v.length < (opts.min ?? 0) || v.length > opts.max) return problem(f, `must have ${opts.min ?? 0} to ${opts.max} items`);
    const out: T[] = [];
    for (let i = 0; i < v.length; i++) {
      const r = item(v[i], `${f}[${i}]`);
      if (isProblem(r)) return r;
      out.push(r);
    }
    return out;
  };
}

/** For partial updates: absent → undefined (leave unchanged), nil → null (clear), else `check`. */
export function patch<T>(check: Check<T>): Check<T | null | undefined> {
  return (v, f) => (v === undefined ? undefined : v === null ? null : check(v, f));
}

/** Absent → undefined (leave unchanged); nil is refused; else `check`. */
export function maybe<T>(check: Check<T>): Check<T | undefined> {
  return (v, f) => (v === undefined ? undefined : check(v, f));
}

/** Absent or nil yields `fallback`; otherwise `check` applies. */
export function optional<T, D>(check: Check<T>, fallback: D): Check<T | D> {
  return (v, f) => (v === undefined || v === null ? fallback : check(v, f));
}

export type Shape = Record<string, Check<unknown>>;
export type Infer<S extends Shape> = { [K in keyof S]: Exclude<ReturnType<S[K]>, Problem> };

export function object<S extends Shape>(shape: S): Check<Infer<S>> {
  const keys = Object.keys(shape);
  return (v, f) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return problem(f || 'payload', 'must be a map');
    const input = v as Record<string, unknown>;
    for (const k of Object.keys(input)) if (!(k in shape)) return problem(path(f, k), 'unknown field');
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const r = shape[k]!(input[k], path(f, k));
      if (isProblem(r)) return r;
      out[k] = r;
    }
    return out as Infer<S>;
  };
}

const path = (parent: string, key: string) => (parent ? `${parent}.${key}` : key);

/** Adds a rule: when `ok(value)` is false, the problem names `field` within the checked value ('' = the value itself). */
export function refine<T>(check: Check<T>, ok: (value: T) => boolean, field: string, reason: string): Check<T> {
  return (v, f) => {
    const r = check(v, f);
    if (isProblem(r)) return r;
    return ok(r) ? r : problem(field === '' ? f : f ? `${f}.${field}` : field, reason);
  };
}

/** Runs a schema against a payload; absent payload counts as an empty map. */
export function validate<T>(check: Check<T>, payload: unknown): { ok: true; value: T } | { ok: false; problem: Problem } {
  const r = check(payload ?? {}, '');
  if (isProblem(r)) return { ok: false, problem: { field: r.field, reason: r.reason } };
  return { ok: true, value: r };
}
