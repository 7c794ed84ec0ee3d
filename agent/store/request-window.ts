import type { AgentDatabase } from './agent-database';
import { assertEpochMs } from './epoch';

/**
 * Executed requests, for the hourly rate gate (rolling window, persisted,
 * only executed requests count: the caller records after it decides to
 * execute, never for a refused intent).
 */
export class RequestWindow {
  readonly #insert;
  readonly #count;
  readonly #prune;

  constructor(db: AgentDatabase) {
    this.#insert = db.prepare<[number]>('INSERT INTO executed_requests (at) VALUES (?)');
    this.#count = db.prepare<[number], { n: number }>('SELECT count(*) AS n FROM executed_requests WHERE at >= ?');
    this.#prune = db.prepare<[number]>('DELETE FROM executed_requests WHERE at < ?');
  }

  record(at: number): void {
    assertEpochMs(at, 'at');
    this.#insert.run(at);
  }

  /**
   * Requests executed at or after `since` (for the gate: `now - HOUR_MS`).
   * Inclusive, and rows later than the caller's `now` count too (the clock
   * stepped back): both err towards refusing, never towards an extra request.
   */
  countSince(since: number): number {
    assertEpochMs(since, 'since');
    return this.#count.get(since)?.n ?? 0;
  }

  /** Drops requests executed strictly before `olderThan` (they can no longer count); returns how many. */
  prune(olderThan: number): number {
    assertEpochMs(olderThan, 'olderThan');
    return this.#prune.run(olderThan).changes;
  }
}
