import { BUDGETS } from '../../core/budgets';
import type { BrokerDatabase } from './database';

export interface PendingCancel {
  intentId: string;
  agent: string;
  cancelledBy: string;
}

/**
 * Cancels whose agent has not answered their intent yet. Without them an agent offline when its intent was
 * cancelled (or whose connection dropped the frame) would come back and run the tool on, or keep a reviewer's
 * later approval in reach, while the user believes it stopped; kept in SQLite because a broker restart between the
 * cancel and the reconnect must not forget it. A row goes when the agent's signed answer arrives (late, under the
 * final `cancelled`), when it was re-sent BUDGETS.intentResends times, or when newer cancels push it past
 * BUDGETS.pendingCancelsPerAgent for its agent (an agent that never returns cannot grow the table).
 */
export class PendingCancelStore {
  readonly #insert;
  readonly #overBudget;
  readonly #forAgent;
  readonly #bump;
  readonly #forget;
  readonly #recordAll;
  readonly #bumpAll;

  constructor(db: BrokerDatabase) {
    this.#insert = db.prepare<[string, string, string, number]>(
      'INSERT INTO intent_cancels (intent_id, agent_did, cancelled_by, cancelled_at) VALUES (?, ?, ?, ?) ON CONFLICT (intent_id) DO NOTHING',
    );
    this.#overBudget = db.prepare<[string, string, number], { intent_id: string }>(
      `DELETE FROM intent_cancels WHERE agent_did = ? AND intent_id NOT IN (
         SELECT intent_id FROM intent_cancels WHERE agent_did = ? ORDER BY cancelled_at DESC, rowid DESC LIMIT ?
       ) RETURNING intent_id`,
    );
    // Only intents with no signed answer: one that came while the row was written needs no cancel any more.
    this.#forAgent = db.prepare<[string], { intent_id: string; agent_did: string; cancelled_by: string }>(
      `SELECT c.intent_id, c.agent_did, c.cancelled_by FROM intent_cancels c JOIN intents i ON i.id = c.intent_id
       WHERE c.agent_did = ? AND i.result_payload IS NULL ORDER BY c.cancelled_at, c.rowid`,
    );
    this.#bump = db.prepare<[string], { resends: number }>('UPDATE intent_cancels SET resends = resends + 1 WHERE intent_id = ? RETURNING resends');
    this.#forget = db.prepare<[string]>('DELETE FROM intent_cancels WHERE intent_id = ?');
    this.#recordAll = db.transaction((cancel: PendingCancel, at: number) => {
      this.#insert.run(cancel.intentId, cancel.agent, cancel.cancelledBy, at);
      return this.#overBudget.all(cancel.agent, cancel.agent, BUDGETS.pendingCancelsPerAgent.limit).map((r) => r.intent_id);
    });
    this.#bumpAll = db.transaction((ids: readonly string[]) => ids.map((id) => this.#bump.get(id)?.resends ?? 0));
  }

  /** Keeps a cancel until its agent answers; returns the ids of older cancels of that agent dropped to stay within budget. */
  record(cancel: PendingCancel, at: number): string[] {
    return this.#recordAll(cancel, at);
  }

  /** The agent's cancels still unanswered, oldest first. */
  forAgent(agent: string): PendingCancel[] {
    return this.#forAgent.all(agent).map((r) => ({ intentId: r.intent_id, agent: r.agent_did, cancelledBy: r.cancelled_by }));
  }

  /** Counts one more re-send of each; returns how many there have been of each, this one included. */
  countResends(intentIds: readonly string[]): number[] {
    return this.#bumpAll(intentIds);
  }

  /** The agent answered the intent (or the cancel is given up): nothing more to tell it. */
  forget(intentId: string): void {
    this.#forget.run(intentId);
  }
}
