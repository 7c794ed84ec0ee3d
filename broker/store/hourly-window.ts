/**
 * The requests that count toward each agent's hourly rate, in memory: the
 * broker's rate pre-check runs at every dispatch, and counting rows in SQLite
 * there grew with each agent's history. The store that owns the rows keeps it
 * in step and rebuilds it at start.
 */
export class HourlyWindow {
  /** Per agent: intent id -> time, in insertion order (time order unless the clock stepped back). */
  readonly #byAgent = new Map<string, Map<string, number>>();

  add(agent: string, id: string, at: number): void {
    let times = this.#byAgent.get(agent);
    if (!times) this.#byAgent.set(agent, (times = new Map()));
    times.set(id, at);
  }

  remove(agent: string, id: string): void {
    const times = this.#byAgent.get(agent);
    if (times?.delete(id) && times.size === 0) this.#byAgent.delete(agent);
  }

  /**
   * Requests after `since`. Entries are dropped from the oldest end only, so
   * one recorded out of order after a clock step back is counted until the
   * entries before it expire: it errs towards refusing, never towards an
   * extra request.
   */
  countSince(agent: string, since: number): number {
    const times = this.#byAgent.get(agent);
    if (!times) return 0;
    for (const [id, at] of times) {
      if (at > since) break;
      times.delete(id);
    }
    if (times.size === 0) this.#byAgent.delete(agent);
    return times.size;
  }
}
