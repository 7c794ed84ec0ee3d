import type { SqliteDatabase } from '../../core/storage/sqlite-database';

/**
 * The calls that write and wait for the disk (a commit's fsync, a lock held by another writer): what storage
 * latency means for an operator. Reads, served from the page cache under WAL, are not timed: they are most of
 * the calls, and each timed call costs the broker CPU on every intent (bench/metrics.ts measures the whole).
 */
export type StorageOp = 'run' | 'transaction';
export type StorageTimingListener = (op: StorageOp, seconds: number) => void;

const listeners = new WeakMap<SqliteDatabase, { current: StorageTimingListener | null }>();

/**
 * Times every statement's run() prepared on `db` from now on, and every transaction function it makes, for whoever
 * subscribes with onStorageTiming (the metrics listener). One place, so no store has to remember to; with no
 * subscriber a call costs one property read more.
 */
export function timeStorage(db: SqliteDatabase): SqliteDatabase {
  const slot: { current: StorageTimingListener | null } = { current: null };
  listeners.set(db, slot);
  const timed = <F extends (...args: never[]) => unknown>(op: StorageOp, call: F, self: unknown): F =>
    function (this: unknown, ...args: Parameters<F>) {
      const listener = slot.current;
      if (!listener) return call.apply(this ?? self, args);
      const start = performance.now();
      try {
        return call.apply(this ?? self, args);
      } finally {
        listener(op, (performance.now() - start) / 1000);
      }
    } as F;
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    const statement = prepare(source);
    // An own property of the statement: pluck(), raw() and bind() return the statement itself, so it stays.
    statement.run = timed('run', statement.run, statement);
    return statement;
  }) as typeof db.prepare;
  const transaction = db.transaction.bind(db);
  db.transaction = ((fn: (...args: never[]) => unknown) => timed('transaction', transaction(fn), undefined)) as typeof db.transaction;
  return db;
}

/** Subscribes the one listener of `db`'s storage timings (replacing any); returns the unsubscribe function. */
export function onStorageTiming(db: SqliteDatabase, listener: StorageTimingListener): () => void {
  const slot = listeners.get(db);
  if (!slot) return () => {};
  slot.current = listener;
  return () => {
    if (slot.current === listener) slot.current = null;
  };
}

/** The listener subscribed to `db`'s timings now, if any: for the query layer's driver, which times its own transactions (sql/sqlite-driver.ts). */
export function storageTimingListener(db: SqliteDatabase): StorageTimingListener | null {
  return listeners.get(db)?.current ?? null;
}
