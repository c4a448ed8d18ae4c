/**
 * Kysely Driver for PGlite. PGlite is one embedded Postgres backend, i.e. exactly one connection:
 * the driver hands it out to one holder at a time (FIFO), so a Kysely transaction owns the backend
 * from BEGIN to COMMIT/ROLLBACK and statements of concurrent callers never interleave with it.
 */
import type { PGlite, ParserOptions, Results } from '@electric-sql/pglite';
import {
  CompiledQuery, type DatabaseConnection, type Driver, type QueryResult, type TransactionSettings,
} from 'kysely';

export interface PGliteDriverConfig {
  /** The instance, or a factory called once by `init()`. */
  pglite: PGlite | (() => Promise<PGlite>);
  /** Parsers applied to every query result on top of the instance's own (scalar types only). */
  parsers?: ParserOptions;
  /** Close the instance on `destroy()` (default true). */
  closeOnDestroy?: boolean;
}

/** FIFO mutual exclusion: `lock()` resolves when the caller holds the lock; `unlock()` hands it on. */
class Mutex {
  private held = false;
  private readonly waiters: Array<() => void> = [];

  async lock(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  unlock(): void {
    const next = this.waiters.shift();
    if (next) next(); // ownership passes directly; `held` stays true
    else this.held = false;
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const MUTATING_COMMANDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

class PGliteConnection implements DatabaseConnection {
  constructor(private readonly pglite: PGlite, private readonly parsers: ParserOptions | undefined) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result: Results<R> = await this.pglite.query<R>(compiled.sql, [...compiled.parameters], {
      rowMode: 'object',
      ...(this.parsers ? { parsers: this.parsers } : {}),
    });
    const command = result.command?.toUpperCase();
    const affected = result.rowCount ?? result.affectedRows;
    return {
      rows: result.rows ?? [],
      ...(command !== undefined && MUTATING_COMMANDS.has(command) && affected !== undefined
        ? { numAffectedRows: BigInt(affected) }
        : {}),
    };
  }

  /** PGlite has no cursors; the full result is read and yielded in chunks. */
  async *streamQuery<R>(compiled: CompiledQuery, chunkSize = 100): AsyncIterableIterator<QueryResult<R>> {
    if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new Error('chunkSize must be a positive integer');
    const { rows } = await this.executeQuery<R>(compiled);
    for (let i = 0; i < rows.length; i += chunkSize) yield { rows: rows.slice(i, i + chunkSize) };
  }
}

export class PGliteDriver implements Driver {
  private readonly mutex = new Mutex();
  private pglite: PGlite | undefined;
  private connection: PGliteConnection | undefined;
  private destroyed = false;

  constructor(private readonly config: PGliteDriverConfig) {}

  async init(): Promise<void> {
    const { pglite } = this.config;
    this.pglite = typeof pglite === 'function' ? await pglite() : pglite;
    await this.pglite.waitReady;
    this.connection = new PGliteConnection(this.pglite, this.config.parsers);
  }

  /** Waits until no one else holds the (single) connection. */
  async acquireConnection(): Promise<DatabaseConnection> {
    await this.mutex.lock();
    if (this.destroyed || !this.connection) {
      this.mutex.unlock();
      throw new Error('driver has already been destroyed');
    }
    return this.connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let statement = 'begin';
    if (settings.isolationLevel || settings.accessMode) {
      statement = 'start transaction';
      if (settings.isolationLevel) statement += ` isolation level ${settings.isolationLevel}`;
      if (settings.accessMode) statement += ` ${settings.accessMode}`;
    }
    await connection.executeQuery(CompiledQuery.raw(statement));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdentifier(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${quoteIdentifier(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quoteIdentifier(name)}`));
  }

  async releaseConnection(): Promise<void> {
    this.mutex.unlock();
  }

  /** Waits for the current holder to release, then closes the instance (unless configured not to). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await this.mutex.lock();
    this.destroyed = true;
    try {
      if (this.pglite && this.config.closeOnDestroy !== false && !this.pglite.closed) await this.pglite.close();
    } finally {
      this.mutex.unlock();
    }
  }
}
