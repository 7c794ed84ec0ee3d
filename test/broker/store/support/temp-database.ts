import { join } from 'node:path';
import { after } from 'node:test';
import { openDatabase, type BrokerDatabase } from '../../../../broker/store/database';
import { removeDirs, tempDir } from '../../../support/processes';

/** A broker database on a real SQLite file in a fresh temp directory; `reopen` closes it and opens the same file again (a restart). */
export function tempBrokerDatabase(): { db: BrokerDatabase; reopen: () => BrokerDatabase } {
  const dir = tempDir('broker-store');
  const path = join(dir, 'broker.db');
  const state = { db: openDatabase(path) };
  after(() => {
    state.db.close();
    removeDirs(dir);
  });
  return {
    get db() {
      return state.db;
    },
    reopen: () => {
      state.db.close();
      return (state.db = openDatabase(path));
    },
  };
}

/** A DID of the wire's shape, told apart by `n` (the stores take any; real ones keep rows realistic). */
export const did = (n: number): string => `did:vaultys:${n.toString(16).padStart(40, '0')}`;

/** A 128-bit hex id (intents, approval requests, grants), told apart by `n`. */
export const hexId = (n: number): string => n.toString(16).padStart(32, '0');
