import { relaxedWrites, type BrokerDatabase } from './database';

/**
 * How many times each intent in flight was sent again to a new connection of its agent. Persisted, because
 * the loop it bounds outlives a broker restart: an intent the agent cannot take (it drops the connection on
 * it) is resent at every reconnect, to every broker process (review finding 4). Intent bookkeeping: one
 * relaxed transaction per reconnect, not one synchronous commit per intent in flight.
 */
export class IntentResendStore {
  readonly #bump;
  readonly #bumpAll;
  readonly #relaxed;

  constructor(db: BrokerDatabase) {
    this.#bump = db.prepare<[string], { count: number }>(
      `INSERT INTO intent_resends (intent_id, count) VALUES (?, 1)
       ON CONFLICT (intent_id) DO UPDATE SET count = count + 1 RETURNING count`,
    );
    this.#bumpAll = db.transaction((ids: readonly string[]) => ids.map((id) => this.#bump.get(id)!.count));
    this.#relaxed = relaxedWrites(db);
  }

  /** Counts one more resend of each intent; returns how many there have been of each, this one included. */
  count(intentIds: readonly string[]): number[] {
    return this.#relaxed(() => this.#bumpAll(intentIds));
  }
}
