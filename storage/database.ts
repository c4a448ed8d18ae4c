/**
 * Opens the database (Postgres when a URL is given, embedded PGlite otherwise), migrates it to the
 * latest schema and builds the stores over it.
 */
import { mkdir } from 'node:fs/promises';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import { KyselyAuditLogStore } from './audit/kysely-audit-log-store.ts';
import { KyselyDmStore } from './dms/kysely-dm-store.ts';
import { KyselyGuildStore } from './guilds/kysely-guild-store.ts';
import { KyselyMessageStore } from './messages/kysely-message-store.ts';
import { KyselyProfileStore } from './people/kysely-profile-store.ts';
import { KyselyRelationshipStore } from './people/kysely-relationship-store.ts';
import { migrationProvider } from './migrations/index.ts';
import { createPGlite, PGliteDialect } from './pglite-dialect.ts';
import { toStorageError } from './pg-errors.ts';
import type { Stores } from './ports.ts';
import type { DB } from './schema.ts';
import { KyselyUserStore } from './users/kysely-user-store.ts';
import { KyselyReadStateStore } from './read-states/kysely-read-state-store.ts';
import { KyselyMuteStore } from './mutes/kysely-mute-store.ts';
import { KyselyReadyStore } from './ready/kysely-ready-store.ts';

export interface Database {
  db: Kysely<DB>;
  dialect: 'postgres' | 'pglite';
  /** Closes the pool (Postgres) or the embedded instance (PGlite). Idempotent. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** postgres:// connection string; when unset, PGlite is used. */
  url?: string;
  /** PGlite data directory (created if missing), or 'memory://' for an in-memory database. Ignored with `url`. */
  dataDir: string;
  logger?: Logger;
  /** Postgres pool size (default 10). */
  poolSize?: number;
}

export const MEMORY_DATA_DIR = 'memory://';

/**
 * Connects and applies pending migrations before resolving; on failure the connection is closed
 * and the error rethrown (StorageUnavailableError when the database is unreachable). Does not
 * check durability: see checkDurability.
 */
export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  const { logger } = opts;
  let dialect: Database['dialect'];
  let db: Kysely<DB>;
  if (opts.url !== undefined && opts.url !== '') {
    dialect = 'postgres';
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10 });
    // An idle client losing its connection emits 'error' on the pool; unhandled, it kills the process.
    pool.on('error', (err) => logger?.warn({ err }, 'idle postgres connection failed'));
    // A checked-out client whose connection dies between two queries (Postgres restarting, say)
    // emits 'error' on itself, which pg-pool does not listen to while the client is lent out:
    // unhandled, it would kill the process. The query that uses it next fails instead.
    pool.on('connect', (client) => client.on('error', (err) => logger?.warn({ err }, 'postgres connection failed')));
    db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  } else {
    dialect = 'pglite';
    const dataDir = opts.dataDir;
    if (dataDir !== MEMORY_DATA_DIR) await mkdir(dataDir, { recursive: true });
    db = new Kysely<DB>({ dialect: new PGliteDialect({ pglite: () => createPGlite(dataDir) }) });
  }

  let closing: Promise<void> | undefined;
  const database: Database = {
    db,
    dialect,
    close: () => (closing ??= db.destroy()),
  };

  try {
    await migrate(db, logger);
  } catch (err) {
    await database.close().catch(() => {});
    throw toStorageError(err);
  }
  logger?.info({ dialect }, 'database ready');
  return database;
}

async function migrate(db: Kysely<DB>, logger: Logger | undefined): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  for (const r of results ?? []) {
    if (r.status === 'Success') logger?.info({ migration: r.migrationName }, 'migration applied');
    else if (r.status === 'Error') logger?.error({ migration: r.migrationName }, 'migration failed');
  }
  if (error) throw error instanceof Error ? error : new Error(`migration failed: ${String(error)}`);
}

/** The stores of ports.ts over `db`. */
export function createStores(db: Kysely<DB>): Stores {
  return {
    audit: new KyselyAuditLogStore(db),
    users: new KyselyUserStore(db),
    guilds: new KyselyGuildStore(db),
    messages: new KyselyMessageStore(db),
    dms: new KyselyDmStore(db),
    profiles: new KyselyProfileStore(db),
    relationships: new KyselyRelationshipStore(db),
    readStates: new KyselyReadStateStore(db),
    mutes: new KyselyMuteStore(db),
    ready: new KyselyReadyStore(db),
  };
}

/**
 * The server's durability settings (SHOW fsync / SHOW synchronous_commit). Meant for Postgres:
 * the engine refuses to start when fsync is off. PGlite reports fsync=off regardless, because
 * its durability comes from its own filesystem layer, so do not apply the check to it.
 */
export async function checkDurability(db: Kysely<DB>): Promise<{ fsync: string; synchronousCommit: string }> {
  const fsync = await sql<{ fsync: string }>`show fsync`.execute(db);
  const commit = await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(db);
  return {
    fsync: fsync.rows[0]?.fsync ?? 'unknown',
    synchronousCommit: commit.rows[0]?.synchronous_commit ?? 'unknown',
  };
}
