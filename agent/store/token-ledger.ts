import type { AgentDatabase } from './agent-database';
import { assertEpochMs } from './epoch';

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * The UTC calendar day (YYYY-MM-DD) of an epoch-ms instant. Computed from the
 * number, never from a timestamp string nor local time: upstream-gaps item 7
 * was a budget that compared timestamps as text in two formats and so was
 * never enforced.
 */
export function utcDay(at: number): string {
  assertEpochMs(at, 'at');
  const d = new Date(at);
  // An instant beyond Date's range, or past year 9999, has no YYYY-MM-DD form.
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() > 9999) throw new RangeError(`${at} has no YYYY-MM-DD day`);
  return d.toISOString().slice(0, 10);
}

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
    assertDay(dayUtc);
    return this.#used.get(dayUtc)?.tokens ?? 0;
  }

  usedToday(now: number): number {
    return this.usedOn(utcDay(now));
  }
}

/** A malformed day would silently read 0 and open the budget; refuse it instead. */
function assertDay(day: string): void {
  const m = DAY_RE.exec(day);
  const valid = m !== null && new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))).toISOString().slice(0, 10) === day;
  if (!valid) throw new RangeError(`"${day}" is not a UTC day (YYYY-MM-DD)`);
}
