import {
  CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';
import type { SqliteDatabase } from '../../../core/storage/sqlite-database';
import { storageTimingListener } from '../storage-timing';
import { ConnectionMutex } from './connection-mutex';
import { StatementCache } from './statement-cache';

const BEGIN = CompiledQuery.raw('BEGIN');
const COMMIT = CompiledQuery.raw('COMMIT');
const ROLLBACK = CompiledQuery.raw('ROLLBACK');
const RELEASED = Promise.resolve();

/** Runs Kysely's compiled queries on one better-sqlite3 handle through cached statements. */
class SqliteHandleConnection implements DatabaseConnection {
  readonly statements: StatementCache;

  constructor(handle: SqliteDatabase) {
    this.statements = new StatementCache(handle);
  }

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      const statement = this.statements.get(query.sql);
      const parameters = query.parameters as unknown[];
      // `reader`: the statement returns rows (a SELECT, or a write with RETURNING).
      if (statement.reader) return Promise.resolve({ rows: statement.all(...parameters) as R[] });
      const { changes, lastInsertRowid } = statement.run(...parameters);
      return Promise.resolve({ rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) });
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  // Read whole: an iterating statement is busy until its last row, and the same cached text may run again meanwhile.
  async *streamQuery<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    yield await this.executeQuery<R>(query);
  }
}

/**
 * Kysely's Driver over an EXISTING handle (database.ts's openDatabase: opened, migrated, its writes timed). The
 * handle stays its opener's: destroy() drops the cached statements and leaves it open, for the stores that still
 * use it directly. Transactions are timed as storage-timing.ts times the handle's own (begin to commit or rollback).
 */
export class SqliteHandleDriver implements Driver {
  readonly #handle: SqliteDatabase;
  readonly #connection: SqliteHandleConnection;
  readonly #mutex: ConnectionMutex;
  readonly #acquired: Promise<DatabaseConnection>;
  #transactionStart = 0;

  constructor(handle: SqliteDatabase, connectionWaitMs: number) {
    this.#handle = handle;
    this.#mutex = new ConnectionMutex(connectionWaitMs);
    this.#connection = new SqliteHandleConnection(handle);
    this.#acquired = Promise.resolve(this.#connection);
  }

  /** Statements cached now (tests check the bound). */
  get cachedStatements(): number {
    return this.#connection.statements.size;
  }

  async init(): Promise<void> {}

  // A free connection is handed over in a promise made once: every query passes here, so it allocates nothing.
  acquireConnection(): Promise<DatabaseConnection> {
    return this.#mutex.tryLock() ? this.#acquired : this.#mutex.lock().then(() => this.#connection);
  }

  releaseConnection(): Promise<void> {
    this.#mutex.unlock();
    return RELEASED;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(BEGIN);
    this.#transactionStart = performance.now();
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await connection.executeQuery(COMMIT);
    } finally {
      this.#timed();
    }
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      // SQLite may have rolled the transaction back itself (SQLITE_FULL, SQLITE_IOERR, a failed COMMIT): a ROLLBACK
      // then fails with "no transaction is active", and that error would replace the one that says what went wrong.
      if (this.#handle.inTransaction) await connection.executeQuery(ROLLBACK);
    } finally {
      this.#timed();
    }
  }

  async destroy(): Promise<void> {
    this.#connection.statements.clear();
  }

  #timed(): void {
    const listener = storageTimingListener(this.#handle);
    if (listener) listener('transaction', (performance.now() - this.#transactionStart) / 1000);
  }
}

/** Kysely's own SQLite compiler, adapter and introspector over SqliteHandleDriver. */
export class SqliteHandleDialect implements Dialect {
  readonly driver: SqliteHandleDriver;

  constructor(handle: SqliteDatabase, connectionWaitMs: number) {
    this.driver = new SqliteHandleDriver(handle, connectionWaitMs);
  }

  createDriver(): Driver {
    return this.driver;
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
