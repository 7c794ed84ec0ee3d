import type { AgentDatabase } from './agent-database';
import { assertEpochMs } from './epoch';

/**
 * Intent ids the agent has accepted, persisted so a replay is refused across
 * restarts (architecture.md "Intents": id never seen).
 */
export class SeenIntentStore {
  readonly #has;
  readonly #insert;
  readonly #prune;

  constructor(db: AgentDatabase) {
    this.#has = db.prepare<[string], { found: number }>('SELECT 1 AS found FROM seen_intents WHERE id = ?');
    this.#insert = db.prepare<[string, number]>('INSERT INTO seen_intents (id, issued_at, answered) VALUES (?, ?, 0) ON CONFLICT (id) DO NOTHING');
    this.#prune = db.prepare<[number]>('DELETE FROM seen_intents WHERE issued_at < ?');
  }

  has(id: string): boolean {
    return this.#has.get(id) !== undefined;
  }

  /**
   * Claims `id`: true if this call recorded it, false if it was already there.
   * One INSERT … ON CONFLICT DO NOTHING, so the check and the write are one
   * atomic step (two racing deliveries, even from two processes, cannot both
   * get true) and the row is on disk when this returns, or when the caller's
   * transaction around it commits (IntentRunner's) — either way before
   * anything executes.
   *
   * The gate can claim at its replay step: `alreadySeen: (id) => !seen.record(id, intent.issuedAt)`
   * (checkIntentGates asks once, and only for a fresh intent addressed to this
   * agent). The id is then spent even if a later gate refuses, so an intent
   * refused for its rate or budget cannot be replayed to run once they allow it.
   */
  record(id: string, issuedAt: number): boolean {
    assertEpochMs(issuedAt, 'issuedAt');
    return this.#insert.run(id, issuedAt).changes === 1;
  }

  /**
   * Forgets ids issued strictly before `olderThan`; returns how many. Safe
   * only because the staleness gate refuses such intents anyway: pass
   * `now - stalenessMs - clockSkewMs` (the gate still accepts an intent issued
   * exactly at that edge, so it must stay remembered — hence strictly before).
   */
  prune(olderThan: number): number {
    assertEpochMs(olderThan, 'olderThan');
    return this.#prune.run(olderThan).changes;
  }
}
