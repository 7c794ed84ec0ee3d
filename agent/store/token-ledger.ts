import type { AgentDatabase } from './agent-database';
import { isUtcDay, utcDay } from '../../core/policy/utc-day';

/** Tokens used per UTC day, for the daily token budget gate; one row a day. */
export class TokenLedger {
  readonly #add;
  readonly #used;

  constructor(db: AgentDatabase) {
    this.#add = db.prepare<[string, number]>(
      'INSERT INTO token_usage (day, tokens) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET tokens = tokens + excluded.tokens',
    );
    this.#used = db.prepare<[string], { tokens: number }>('SELECT tokens FROM token_usage WHERE day = ?');
  }

  /** Adds `tokens` used at instant `at` to that instant's UTC day (one atomic upsert). */
  add(tokens: number, at: number): void {
    if (!Number.isSafeInteger(tokens) || tokens < 0) throw new RangeError(`tokens must be a non-negative integer, got ${tokens}`);
    this.#add.run(utcDay(at), tokens);
  }

  /** Tokens used on `dayUtc` (YYYY-MM-DD, a real calendar day). */
  usedOn(dayUtc: string): number {
    if (!isUtcDay(dayUtc)) throw new RangeError(`"${dayUtc}" is not a UTC day (YYYY-MM-DD)`);
    return this.#used.get(dayUtc)?.tokens ?? 0;
  }

  usedToday(now: number): number {
    return this.usedOn(utcDay(now));
  }
}
