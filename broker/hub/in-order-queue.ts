interface Item {
  work: () => void | Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  /** Dropped by drop() while it waits (a frame of a connection the broker closed); else it always runs (the close). */
  droppable: boolean;
}

/**
 * Work run one item after another, in the order it came: each may await the database, and what came later must never
 * overtake it. An explicit list rather than a promise chain, so that what waits can be counted (a peer's frames while
 * storage stalls) and released at once when nothing will come of it, instead of held until the stall ends.
 */
export class InOrderQueue {
  readonly #waiting: Item[] = [];
  #running = false;
  #unfinished = 0;

  /** Items taken and not finished: those waiting and the one in hand. */
  get length(): number {
    return this.#unfinished;
  }

  /**
   * Runs `work` after everything before it; its failure goes to the caller, and the next item still runs. On an idle
   * queue it starts at once, before this returns: what it decides before its first await (a refusal that closes the
   * socket) happens before the socket's next frame is read, as when frames were handled synchronously.
   */
  run(work: () => void | Promise<void>, options: { droppable: boolean }): Promise<void> {
    this.#unfinished++;
    const done = new Promise<void>((resolve, reject) => this.#waiting.push({ work, resolve, reject, droppable: options.droppable }));
    if (!this.#running) void this.#drain();
    return done;
  }

  /** Resolves every droppable item still waiting without running it; the one in hand finishes as it would. */
  drop(): void {
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      const item = this.#waiting[i]!;
      if (!item.droppable) continue;
      this.#waiting.splice(i, 1);
      this.#unfinished--;
      item.resolve();
    }
  }

  async #drain(): Promise<void> {
    this.#running = true;
    for (let item = this.#waiting.shift(); item; item = this.#waiting.shift()) {
      try {
        await item.work();
        item.resolve();
      } catch (err) {
        item.reject(err);
      } finally {
        this.#unfinished--;
      }
    }
    this.#running = false;
  }
}
