import { sql } from 'kysely';
import { BUDGETS } from '../../core/budgets';
import type { Storage } from './sql/storage';

export interface PendingCancel {
  intentId: string;
  agent: string;
  cancelledBy: string;
}

/**
 * Cancels whose agent has not answered their intent yet. Without them an agent offline when its intent was
 * cancelled (or whose connection dropped the frame) would come back and run the tool on, or keep a reviewer's
 * later approval in reach, while the user believes it stopped; kept in the database because a broker restart between the
 * cancel and the reconnect must not forget it. A row goes when the agent's signed answer arrives (late, under the
 * final `cancelled`), when it was re-sent BUDGETS.intentResends times, or when newer cancels push it past
 * BUDGETS.pendingCancelsPerAgent for its agent (an agent that never returns cannot grow the table).
 */
export class PendingCancelStore {
  constructor(private readonly storage: Storage) {}

  /** Keeps a cancel until its agent answers; returns the ids of older cancels of that agent dropped to stay within budget. */
  async record(cancel: PendingCancel, at: number): Promise<string[]> {
    const { agent } = cancel;
    return this.storage.transaction(async (trx) => {
      // PostgreSQL runs READ COMMITTED: two cancels of one agent recorded at once would each trim without seeing the
      // other's row and leave one over the budget. A lock per agent, held to the commit, makes them take turns
      // (SQLite's transactions already do: the driver runs one at a time). Advisory: no table's row locks involved.
      if (this.storage.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`intent_cancels:${agent}`}, 0))`.execute(trx);
      await trx
        .insertInto('intent_cancels')
        .values({ intent_id: cancel.intentId, agent_did: agent, cancelled_by: cancel.cancelledBy, cancelled_at: at })
        .onConflict((oc) => oc.column('intent_id').doNothing())
        .execute();
      const dropped = await trx
        .deleteFrom('intent_cancels')
        .where('agent_did', '=', agent)
        .where('intent_id', 'not in', (eb) =>
          eb
            .selectFrom('intent_cancels')
            .select('intent_id')
            .where('agent_did', '=', agent)
            .orderBy('cancelled_at', 'desc')
            .orderBy('rowid', 'desc')
            .limit(BUDGETS.pendingCancelsPerAgent.limit),
        )
        .returning('intent_id')
        .execute();
      return dropped.map((r) => r.intent_id);
    });
  }

  /** The agent's cancels still unanswered, oldest first. */
  async forAgent(agent: string): Promise<PendingCancel[]> {
    // Only intents with no signed answer: one that came while the row was written needs no cancel any more.
    const rows = await this.storage.db
      .selectFrom('intent_cancels as c')
      .innerJoin('intents as i', 'i.id', 'c.intent_id')
      .select(['c.intent_id', 'c.agent_did', 'c.cancelled_by'])
      .where('c.agent_did', '=', agent)
      .where('i.result_payload', 'is', null)
      .orderBy('c.cancelled_at')
      .orderBy('c.rowid')
      .execute();
    return rows.map((r) => ({ intentId: r.intent_id, agent: r.agent_did, cancelledBy: r.cancelled_by }));
  }

  /** Counts one more re-send of each; returns how many there have been of each, this one included. */
  async countResends(intentIds: readonly string[]): Promise<number[]> {
    if (intentIds.length === 0) return [];
    return this.storage.transaction(async (trx) => {
      const counts: number[] = [];
      for (const id of intentIds) {
        // One statement counts and reads: concurrent re-sends of one cancel each get their own count.
        const row = await trx.updateTable('intent_cancels').set((eb) => ({ resends: eb('resends', '+', 1) })).where('intent_id', '=', id).returning('resends').executeTakeFirst();
        counts.push(row?.resends ?? 0);
      }
      return counts;
    });
  }

  /** The agent answered the intent (or the cancel is given up): nothing more to tell it. */
  async forget(intentId: string): Promise<void> {
    await this.storage.db.deleteFrom('intent_cancels').where('intent_id', '=', intentId).execute();
  }
}
