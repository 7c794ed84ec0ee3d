import { sql, type RawBuilder } from 'kysely';
import type { TokenUsageReport } from '../../core/wire/task';
import type { Storage, StorageDialect } from './sql/storage';

/** The larger of two integers: SQLite's scalar max() is PostgreSQL's greatest() (its max() is only an aggregate). */
function larger(dialect: StorageDialect, a: RawBuilder<number>, b: RawBuilder<number>): RawBuilder<number> {
  return dialect === 'sqlite' ? sql<number>`max(${a}, ${b})` : sql<number>`greatest(${a}, ${b})`;
}

/**
 * The sum of a column as a floating-point number, which no row values can make overflow (review finding 1: an
 * integer sum() threw from a socket's close handler on rows a compromised agent stored). SQLite: total(), never
 * an integer overflow, 0.0 over no rows. PostgreSQL: sum() of a BIGINT is NUMERIC (exact, unbounded), cast to
 * float8 (past 2^53 no longer exact, which usedOn caps anyway), NULL over no rows.
 */
function floatSum(dialect: StorageDialect, column: RawBuilder<number>): RawBuilder<number | null> {
  return dialect === 'sqlite' ? sql<number>`total(${column})` : sql<number | null>`sum(${column})::float8`;
}

/**
 * Model tokens agents reported in their signed task progress and results.
 * Each report is an intent's running total for a day, so the store keeps the
 * largest one seen: a replayed, reordered or resent report never lowers or
 * double-counts it (one upsert, so concurrent reports, from any node, keep the largest too).
 * This is the broker's view and pre-check; the budget itself is enforced by the agent on its own ledger.
 */
export class TokenUsageStore {
  readonly #storage: Storage;

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  async report(agent: string, intentId: string, usage: TokenUsageReport): Promise<void> {
    const tokens = larger(this.#storage.dialect, sql.ref('intent_tokens.tokens'), sql.ref('excluded.tokens'));
    await this.#storage.db
      .insertInto('intent_tokens')
      .values({ intent_id: intentId, day: usage.day, agent_did: agent, tokens: usage.tokens })
      .onConflict((oc) => oc.columns(['intent_id', 'day']).doUpdateSet({ tokens }))
      .execute();
  }

  async usedOn(agent: string, day: string): Promise<number> {
    const row = await this.#storage.db
      .selectFrom('intent_tokens')
      .select(floatSum(this.#storage.dialect, sql.ref('tokens')).as('tokens'))
      .where('agent_did', '=', agent)
      .where('day', '=', day)
      .executeTakeFirst();
    // Past 2^53 a count is no longer exact, and clients expect an integer: the budget is exhausted either way.
    return Math.min(Math.floor(row?.tokens ?? 0), Number.MAX_SAFE_INTEGER);
  }
}
