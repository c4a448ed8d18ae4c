/**
 * Kysely Dialect for embedded PGlite, plus the PGlite options that make its results look like
 * node-postgres results, so stores behave identically on both dialects.
 */
import { PGlite, type ParserOptions } from '@electric-sql/pglite';
import {
  type DatabaseIntrospector, type Dialect, type DialectAdapter, type Driver, type Kysely,
  PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type QueryCompiler,
} from 'kysely';
import { PGliteDriver, type PGliteDriverConfig } from './pglite-driver.ts';

const INT8 = 20;
const DATE = 1082;
const TIMESTAMP = 1114;

/** '2026-01-02' or '2026-01-02 03:04:05.678901' (no zone), as Postgres prints them in ISO style. */
const LOCAL_DATETIME_RE = /^(\d{4,})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$/;

/** Like pg-types: dates and zone-less timestamps are local time; ±infinity become ±Infinity. */
function parseLocalDateTime(text: string): Date | number {
  if (text === 'infinity') return Infinity;
  if (text === '-infinity') return -Infinity;
  const m = LOCAL_DATETIME_RE.exec(text);
  if (!m) return new Date(text); // e.g. BC dates: best effort, as PGlite's default parser
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0'] = m;
  const date = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(frac.padEnd(3, '0').slice(0, 3)));
  if (Number(y) < 100) date.setFullYear(Number(y)); // Date() maps years 0..99 to 1900..1999
  return date;
}

/**
 * Result parsers matching node-postgres defaults where PGlite differs:
 * - int8 → decimal string (PGlite yields a number when it fits in 2^53, a bigint otherwise);
 * - date and timestamp (without zone) → local-time Date, as pg-types does (PGlite reads a bare
 *   date as UTC midnight).
 * timestamptz already parses to a Date on both; numeric already parses to a string on both.
 */
export const PG_COMPATIBLE_PARSERS: ParserOptions = {
  [INT8]: (text: string) => text,
  [DATE]: parseLocalDateTime,
  [TIMESTAMP]: parseLocalDateTime,
};

/**
 * Opens PGlite with PG_COMPATIBLE_PARSERS installed on the instance (only instance-level parsers
 * reach array elements such as int8[]). `dataDir` is a directory path, or 'memory://' for an
 * in-memory database.
 */
export async function createPGlite(dataDir: string): Promise<PGlite> {
  return PGlite.create(dataDir, { parsers: PG_COMPATIBLE_PARSERS });
}

export interface PGliteDialectConfig {
  pglite: PGliteDriverConfig['pglite'];
  /** Close the instance when the Kysely instance is destroyed (default true). */
  closeOnDestroy?: boolean;
}

/**
 * Postgres SQL over one PGlite instance. Scalar results get PG_COMPATIBLE_PARSERS even when the
 * instance was created elsewhere; create it with `createPGlite` to also get them inside arrays.
 */
export class PGliteDialect implements Dialect {
  constructor(private readonly config: PGliteDialectConfig) {}

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  createDriver(): Driver {
    return new PGliteDriver({
      pglite: this.config.pglite,
      parsers: PG_COMPATIBLE_PARSERS,
      ...(this.config.closeOnDestroy !== undefined ? { closeOnDestroy: this.config.closeOnDestroy } : {}),
    });
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}
