/**
 * Test databases: a throwaway Postgres database per call, and the list of dialects a conformance
 * suite runs against. Postgres is expected on 127.0.0.1:5432 with trust auth for user `postgres`
 * (override with GUILDHALL_TEST_PG_ADMIN_URL).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createStores, MEMORY_DATA_DIR, openDatabase, type Database } from '../../storage/database.ts';
import type { Stores } from '../../storage/ports.ts';

const ADMIN_URL = process.env.GUILDHALL_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a uniquely named empty database; `drop()` terminates its sessions and drops it. */
export async function freshPostgres(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `guildhall_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  await withAdmin((c) => c.query(`create database "${name}"`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    drop: () =>
      (dropped ??= withAdmin(async (c) => {
        await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
        await c.query(`drop database if exists "${name}"`);
      })),
  };
}

/** An open, migrated database with its stores; `dispose()` closes it and deletes its data. */
export interface TestDatabase {
  database: Database;
  stores: Stores;
  dispose(): Promise<void>;
}

export interface TestDialect {
  name: 'postgres' | 'pglite';
  open(): Promise<TestDatabase>;
}

export const DIALECTS: readonly TestDialect[] = [
  {
    name: 'postgres',
    async open() {
      const pgdb = await freshPostgres();
      try {
        const database = await openDatabase({ url: pgdb.url, dataDir: MEMORY_DATA_DIR, poolSize: 8 });
        return {
          database,
          stores: createStores(database.db),
          async dispose() {
            try {
              await database.close();
            } finally {
              await pgdb.drop();
            }
          },
        };
      } catch (err) {
        await pgdb.drop();
        throw err;
      }
    },
  },
  {
    name: 'pglite',
    async open() {
      const database = await openDatabase({ dataDir: MEMORY_DATA_DIR });
      return { database, stores: createStores(database.db), dispose: () => database.close() };
    },
  },
];
