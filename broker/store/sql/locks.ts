import { sql, type Transaction } from 'kysely';
import type { StorageDialect } from './storage';
import type { BrokerTables } from './tables';

/*
 * PostgreSQL runs READ COMMITTED: a transaction that reads, then writes on what it read, races another doing the
 * same unless the read locks. SQLite needs no lock and has no such clause: its transactions run one at a time (the
 * driver's mutex), so each helper is a no-op there.
 */

/** `query` locking the rows it reads until the transaction ends (SELECT … FOR UPDATE) on PostgreSQL. */
export function lockingRows<Q extends { forUpdate(): Q }>(query: Q, dialect: StorageDialect): Q {
  return dialect === 'postgres' ? query.forUpdate() : query;
}

/**
 * Holds, until `trx` ends, a lock named `name` that every node on the database shares (a transaction-scoped
 * advisory lock): for a check no row lock can cover, such as "the table is empty" or "no name reads the same".
 */
export async function serializedOn(trx: Transaction<BrokerTables>, dialect: StorageDialect, name: string): Promise<void> {
  if (dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(hashtext(${name}))`.execute(trx);
}
