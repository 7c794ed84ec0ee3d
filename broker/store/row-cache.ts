import type { Storage } from './sql/storage';

/**
 * Rows the hot path reads at every handshake and dispatch, kept in memory by key. A read awaits its query now, so
 * a write can run while it does: a read that overlapped any write is returned but not cached (it may hold the row
 * from before the write, or one the write's transaction then rolled back), and a write drops its keys as it
 * begins and again as it ends, committed or not. Without that, a revocation racing a handshake could leave the
 * agent cached as approved. Only rows found are cached: asking about unknown keys cannot grow the map.
 *
 * On PostgreSQL nothing is kept: other broker nodes write the same rows, and a node that kept one would act on it
 * after another node revoked the agent or changed its policy. Every read is the row (a primary-key read).
 */
export class RowCache<V> {
  readonly #kept: boolean;
  readonly #values = new Map<string, V>();
  /** Moves at every write's start and end: a read that sees it move overlapped a write. */
  #epoch = 0;

  constructor(storage: Pick<Storage, 'dialect'>) {
    this.#kept = storage.dialect === 'sqlite';
  }

  async read(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    if (!this.#kept) return load();
    const cached = this.#values.get(key);
    if (cached !== undefined) return cached;
    const epoch = this.#epoch;
    const value = await load();
    if (value !== undefined && epoch === this.#epoch) this.#values.set(key, value);
    return value;
  }

  /** Runs `write`, which changes the rows of `keys`, so that no read overlapping it stays cached. */
  async write<T>(keys: string | Iterable<string>, write: () => Promise<T>): Promise<T> {
    const dropped = typeof keys === 'string' ? [keys] : [...keys];
    this.#drop(dropped);
    try {
      return await write();
    } finally {
      this.#drop(dropped);
    }
  }

  /** Drops `keys` found written by a write that could not name them before it ran (a DELETE … RETURNING). */
  forget(keys: readonly string[]): void {
    this.#drop(keys);
  }

  #drop(keys: readonly string[]): void {
    for (const key of keys) this.#values.delete(key);
    this.#epoch++;
  }
}
