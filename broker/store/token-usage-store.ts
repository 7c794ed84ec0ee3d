import type { TokenUsageReport } from '../../core/wire/task';
import type { BrokerDatabase } from './database';

/**
 * Model tokens agents reported in their signed task progress and results.
 * Each report is an intent's running total for a day, so the store keeps the
 * largest one seen: a replayed, reordered or resent report never lowers or
 * double-counts it. This is the broker's view and pre-check; the budget itself
 * is enforced by the agent on its own ledger.
 */
export class TokenUsageStore {
  readonly #report;
  readonly #usedOn;

  constructor(db: BrokerDatabase) {
    this.#report = db.prepare<[string, string, string, number]>(
      `INSERT INTO intent_tokens (intent_id, day, agent_did, tokens) VALUES (?, ?, ?, ?)
       ON CONFLICT (intent_id, day) DO UPDATE SET tokens = max(tokens, excluded.tokens)`,
    );
    this.#usedOn = db.prepare<[string, string], { tokens: number | null }>('SELECT sum(tokens) AS tokens FROM intent_tokens WHERE agent_did = ? AND day = ?');
  }

  report(agent: string, intentId: string, usage: TokenUsageReport): void {
    this.#report.run(intentId, usage.day, agent, usage.tokens);
  }

  usedOn(agent: string, day: string): number {
    return this.#usedOn.get(agent, day)?.tokens ?? 0;
  }
}
