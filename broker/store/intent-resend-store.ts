import type { BrokerDatabase } from './database';

/**
 * How many times each intent in flight was sent again to a new connection of its agent. Persisted, because
 * the loop it bounds outlives a broker restart: an intent the agent cannot take (it drops the connection on
 * it) is resent at every reconnect, to every broker process (review finding 4).
 */
export class IntentResendStore {
  readonly #bump;

  constructor(db: BrokerDatabase) {
    this.#bump = db.prepare<[string], { count: number }>(
      `INSERT INTO intent_resends (intent_id, count) VALUES (?, 1)
       ON CONFLICT (intent_id) DO UPDATE SET count = count + 1 RETURNING count`,
    );
  }

  /** Counts one more resend of `intentId`; returns how many there have been, this one included. */
  count(intentId: string): number {
    return this.#bump.get(intentId)!.count;
  }
}
