import type { Storage } from './sql/storage';

/**
 * How many times each intent in flight was sent again to a new connection of its agent. Persisted, because
 * the loop it bounds outlives a broker restart: an intent the agent cannot take (it drops the connection on
 * it) is resent at every reconnect, to every broker process (review finding 4). Intent bookkeeping: one
 * relaxed transaction per reconnect, not one synchronous commit per intent in flight.
 */
export class IntentResendStore {
  constructor(private readonly storage: Storage) {}

  /** Counts one more resend of each intent; returns how many there have been of each, this one included. */
  async count(intentIds: readonly string[]): Promise<number[]> {
    if (intentIds.length === 0) return [];
    return this.storage.transaction(
      async (trx) => {
        const counts: number[] = [];
        for (const id of intentIds) {
          // One statement counts and reads back: two brokers resending one intent at once each get their own count.
          const { count } = await trx
            .insertInto('intent_resends')
            .values({ intent_id: id, count: 1 })
            .onConflict((oc) => oc.column('intent_id').doUpdateSet((eb) => ({ count: eb('intent_resends.count', '+', 1) })))
            .returning('count')
            .executeTakeFirstOrThrow();
          counts.push(count);
        }
        return counts;
      },
      { relaxed: true },
    );
  }
}
