import { join } from 'node:path';
import { openDatabase } from '../database';
import { openPostgresStorage } from './postgres-storage';
import { openSqliteStorage } from './sqlite-storage';
import type { Storage } from './storage';

/**
 * The broker's storage: PostgreSQL at `databaseUrl` (migrated; `broker start --database`), or else the data
 * directory's broker.db, opened and migrated as before.
 */
export async function openBrokerStorage(dataDir: string, databaseUrl?: string): Promise<Storage> {
  if (databaseUrl) {
    try {
      return await openPostgresStorage(databaseUrl);
    } catch (err) {
      // openPostgresStorage's message names the server and the cause, never the password.
      throw new Error(`cannot open the broker's database, ${(err as Error).message}`);
    }
  }
  const handle = openDatabase(join(dataDir, 'broker.db'));
  const storage = openSqliteStorage(handle);
  // Its close() closes the handle too: the broker owns both.
  return {
    dialect: storage.dialect,
    db: storage.db,
    transaction: (fn, options) => storage.transaction(fn, options),
    ping: () => storage.ping(),
    onTiming: (listener) => storage.onTiming(listener),
    async close() {
      await storage.close();
      handle.close();
    },
  };
}
