import { Kysely } from 'kysely';
import type { SqliteDatabase } from '../../../core/storage/sqlite-database';
import { onStorageTiming } from '../storage-timing';
import { SqliteHandleDialect } from './sqlite-driver';
import type { Storage } from './storage';
import type { BrokerTables } from './tables';

export interface SqliteStorage extends Storage {
  readonly dialect: 'sqlite';
  /** Statements the driver keeps prepared now (at most BUDGETS.preparedStatementsCached). */
  readonly cachedStatements: number;
}

export interface SqliteStorageOptions {
  /**
   * How long a query may wait for the one connection before it fails (default 30 s). Transactions hold it for
   * milliseconds; a wait this long is a query through `db` inside `transaction`, which would otherwise never end.
   */
  connectionWaitMs?: number;
}

/**
 * Storage over the handle database.ts's openDatabase opened and migrated (SQLite keeps its migrations there, so
 * an old broker.db upgrades as before). close() leaves the handle open: it is its opener's to close.
 */
export function openSqliteStorage(handle: SqliteDatabase, options: SqliteStorageOptions = {}): SqliteStorage {
  const dialect = new SqliteHandleDialect(handle, options.connectionWaitMs ?? 30_000);
  const db = new Kysely<BrokerTables>({ dialect });
  return {
    dialect: 'sqlite',
    db,
    get cachedStatements() {
      return dialect.driver.cachedStatements;
    },
    transaction(fn, options) {
      if (!options?.relaxed) return db.transaction().execute(fn);
      // The pragma is set and restored while this flow holds the one connection, so it covers this commit only
      // (handle.pragma prepares afresh: SQLite applies a pragma when it is prepared).
      return db.connection().execute(async (connection) => {
        handle.pragma('synchronous = NORMAL');
        try {
          return await connection.transaction().execute(fn);
        } finally {
          handle.pragma('synchronous = FULL');
        }
      });
    },
    // The file itself (writable, not replaced, room on its disk) is readiness.ts's to check: it knows the path.
    ping: () => Promise.resolve(handle.open ? null : 'closed'),
    onTiming: (listener) => onStorageTiming(handle, listener),
    close: () => db.destroy(),
  };
}
