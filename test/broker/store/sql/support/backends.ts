import { join } from 'node:path';
import { after, before } from 'node:test';
import { openDatabase, type BrokerDatabase } from '../../../../../broker/store/database';
import { openPostgresStorage, type PostgresStorageOptions } from '../../../../../broker/store/sql/postgres-storage';
import { openSqliteStorage, type SqliteStorageOptions } from '../../../../../broker/store/sql/sqlite-storage';
import type { Storage } from '../../../../../broker/store/sql/storage';
import { startPostgres, type PostgresServer } from '../../../../support/postgres';
import { removeDirs, tempDir } from '../../../../support/processes';

/** A real broker.db in a temp dir (openDatabase: migrated, 0600, timed) and its Storage; both closed after the test. */
export function sqliteStorage(options?: SqliteStorageOptions): { storage: ReturnType<typeof openSqliteStorage>; handle: BrokerDatabase } {
  const dir = tempDir('sql-storage');
  const handle = openDatabase(join(dir, 'broker.db'));
  const storage = openSqliteStorage(handle, options);
  after(async () => {
    await storage.close();
    handle.close();
    removeDirs(dir);
  });
  return { storage, handle };
}

/** One PostgreSQL server for the test file, started before its first test and stopped after its last. */
export function postgresServer(): () => PostgresServer {
  let server: PostgresServer | undefined;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('the PostgreSQL server is started by before()');
    return server;
  };
}

/** Storage on a fresh database of its own on `server`, closed after the test. */
export async function postgresStorage(server: PostgresServer, options?: PostgresStorageOptions): Promise<Storage> {
  const storage = await openPostgresStorage(await server.createDatabase(), options);
  after(() => storage.close());
  return storage;
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** A fresh, migrated, empty broker storage; `single`: one connection (PostgreSQL's pool of 1; SQLite has only one). */
  open(options?: { single?: boolean }): Promise<Storage>;
  /** How this engine tells the durability of the current transaction's commit, and its two answers. */
  durability: { sql: string; relaxed: unknown; durable: unknown };
}

/** Both backends, for one suite run on each (describe per backend); PostgreSQL's server is the file's. */
export function backends(): Backend[] {
  const server = postgresServer();
  return [
    {
      name: 'sqlite',
      open: () => Promise.resolve(sqliteStorage().storage),
      durability: { sql: 'PRAGMA synchronous', relaxed: { synchronous: 1 }, durable: { synchronous: 2 } },
    },
    {
      name: 'postgres',
      open: (options) => postgresStorage(server(), options?.single ? { poolSize: 1 } : {}),
      durability: { sql: 'SHOW synchronous_commit', relaxed: { synchronous_commit: 'off' }, durable: { synchronous_commit: 'on' } },
    },
  ];
}
