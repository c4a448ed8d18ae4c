/**
 * The bench's own Postgres database. Each system run gets it dropped and recreated, so figures
 * never depend on what an earlier run left behind. Only this database is ever dropped.
 */
import pg from 'pg';

export const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const BENCH_DB = process.env.BENCH_PG_DATABASE ?? 'guildhall_bench';

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function dbUrl(name: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops (terminating its sessions) and recreates the bench database; returns its URL. */
export async function recreateBenchDatabase(): Promise<string> {
  await dropBenchDatabase();
  await withAdmin((c) => c.query(`create database "${BENCH_DB}"`));
  return dbUrl(BENCH_DB);
}

export async function dropBenchDatabase(): Promise<void> {
  await withAdmin(async (c) => {
    await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [BENCH_DB]);
    await c.query(`drop database if exists "${BENCH_DB}"`);
  });
}

/** Runs one query against the bench database. */
export async function benchQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: dbUrl(BENCH_DB) });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Forces a Postgres checkpoint (superuser), so dirty pages and WAL left by earlier phases (database
 * creation, a saturation phase) are flushed before a latency measurement instead of during it.
 */
export async function checkpoint(): Promise<void> {
  await withAdmin((c) => c.query('checkpoint'));
}

/** Rows in the bench database's `messages` table. */
export async function countMessages(): Promise<number> {
  const rows = await benchQuery<{ n: string }>('select count(*)::text as n from messages');
  return Number(rows[0]?.n ?? 0);
}

/** Postgres settings that decide commit cost, for the report. */
export async function postgresSettings(): Promise<Record<string, string>> {
  return withAdmin(async (c) => {
    const out: Record<string, string> = {};
    for (const name of ['server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'max_connections']) {
      const r = await c.query(`show ${name}`);
      out[name] = String(Object.values(r.rows[0] ?? {})[0] ?? '');
    }
    return out;
  });
}

/**
 * Transactions committed in the bench database so far (pg_stat_database.xact_commit). Backends
 * report their counts with a delay of up to about a second, so use it over windows of seconds.
 */
export async function committedTransactions(): Promise<number> {
  return withAdmin(async (c) => {
    await c.query('select pg_stat_clear_snapshot()');
    const r = await c.query<{ n: string }>('select xact_commit::text as n from pg_stat_database where datname = $1', [BENCH_DB]);
    return Number(r.rows[0]?.n ?? 0);
  });
}
