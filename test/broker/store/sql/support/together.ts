import { sql } from 'kysely';
import type { Storage } from '../../../../../broker/store/sql/storage';
import type { BrokerTables } from '../../../../../broker/store/sql/tables';
import { waitFor } from '../../../../support/processes';

/**
 * Starts `callers` flows while another transaction holds `table` locked (PostgreSQL), waits until all of them
 * wait on a lock, then lets them go at once: flows that read the table and write on what they read then race for
 * certain, not by luck of timing (a flow that locks first queues on its own lock instead). SQLite runs
 * transactions one at a time: there the flows just run.
 */
export async function together<T>(storage: Storage, table: keyof BrokerTables, callers: (() => Promise<T>)[]): Promise<T[]> {
  if (storage.dialect !== 'postgres') return Promise.all(callers.map((call) => call()));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let holding!: () => void;
  const held = new Promise<void>((resolve) => (holding = resolve));
  const holder = storage.transaction(async (trx) => {
    await sql`LOCK TABLE ${sql.table(table)} IN ACCESS EXCLUSIVE MODE`.execute(trx);
    holding();
    await released;
  });
  await held;
  const flows = callers.map((call) => call());
  try {
    const waiting = async () => (await sql<{ n: number }>`SELECT count(*) AS n FROM pg_locks WHERE NOT granted`.execute(storage.db)).rows[0]!.n;
    await waitFor(`${callers.length} flows waiting on a lock`, async () => (await waiting()) >= callers.length, 10_000, 10);
  } finally {
    release();
    await holder;
  }
  return Promise.all(flows);
}
