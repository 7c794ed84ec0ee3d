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
    // total(), not sum(): a floating-point sum never raises SQLite's integer overflow, whatever rows a
    // compromised agent managed to store (review finding 1: sum() threw from a socket's close handler).
    this.#usedOn = db.prepare<[string, string], { tokens: number }>('SELECT total(tokens) AS tokens FROM intent_tokens WHERE agent_did = ? AND day = ?');
  }

  report(agent: string, intentId: string, usage: TokenUsageReport): void {
    this.#report.run(intentId, usage.day, agent, usage.tokens);
  }

  usedOn(agent: string, day: string): number {
    // Past 2^53 a count is no longer exact, and clients expect an integer: the budget is exhausted either way.
    return Math.min(Math.floor(this.#usedOn.get(agent, day)?.tokens ?? 0), Number.MAX_SAFE_INTEGER);
  }
}
