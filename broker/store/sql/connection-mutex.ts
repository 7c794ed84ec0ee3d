/**
 * One holder at a time, served in the order they asked. SQLite has one connection per process here: a
 * transaction's statements and another flow's must never interleave on it, or the other flow's writes would land
 * inside the transaction (and roll back with it) and its reads would see the transaction's uncommitted rows.
 * A wait is bounded: a query through `storage.db` inside `storage.transaction` waits for the connection its own
 * transaction holds, and would otherwise hang that flow, and every flow queued behind it, for good.
 */
export class ConnectionMutex {
  readonly #waitMs: number;
  #held = false;
  readonly #waiting: (() => void)[] = [];

  constructor(waitMs: number) {
    this.#waitMs = waitMs;
  }

  /** Takes the lock at once if it is free (true); else the caller waits for lock(). */
  tryLock(): boolean {
    if (this.#held) return false;
    this.#held = true;
    return true;
  }

  lock(): Promise<void> {
    if (this.tryLock()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      // Handed over by unlock(): #held stays true from one holder to the next, so no one can cut in between.
      const handOver = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(handOver), 1);
        reject(new Error(`waited ${this.#waitMs} ms for the SQLite connection: inside storage.transaction, query through its trx, not storage.db`));
      }, this.#waitMs);
      this.#waiting.push(handOver);
    });
  }

  unlock(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#held = false;
  }
}
