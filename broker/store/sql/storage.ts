import type { Kysely, Transaction } from 'kysely';
import type { StorageTimingListener } from '../storage-timing';
import type { BrokerTables } from './tables';

export type StorageDialect = 'sqlite' | 'postgres';

export interface TransactionOptions {
  /**
   * Commit without waiting for the disk: for writes whose loss the system already tolerates (intent bookkeeping,
   * database.ts's relaxedWrites). A crash of the process keeps them; a power loss or an OS crash (SQLite), or a
   * crash of the PostgreSQL server, may lose the last relaxed commits, never a durable one nor a half of one.
   */
  relaxed?: boolean;
}

/**
 * The broker's storage, one interface over SQLite and PostgreSQL: the same Kysely queries run on both.
 * Inside `transaction`, query through the `trx` it gives, never through `db`: on SQLite `db` waits for the one
 * connection the transaction holds (it would wait forever), on PostgreSQL it runs outside the transaction.
 */
export interface Storage {
  readonly dialect: StorageDialect;
  readonly db: Kysely<BrokerTables>;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws (and the error rethrown). */
  transaction<T>(fn: (trx: Transaction<BrokerTables>) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Whether the database answers now: null, or why not in a few words (for /readyz: no URL, no path, no
   * password). Never throws.
   */
  ping(): Promise<string | null>;
  /**
   * Subscribes the one listener of the calls that write and wait for the database (a write statement, a whole
   * transaction), replacing any; returns the unsubscribe function. The metrics' storage latency.
   */
  onTiming(listener: StorageTimingListener): () => void;
  close(): Promise<void>;
}
