const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * The UTC calendar day (YYYY-MM-DD) of an epoch-ms instant: the unit of the
 * daily token budget, on the agent that enforces it and on the broker that
 * shows it. Computed from the number, never from a timestamp string nor local
 * time: upstream-gaps item 7 was a budget that compared timestamps as text in
 * two formats and so was never enforced.
 */
export function utcDay(at: number): string {
  if (!Number.isSafeInteger(at) || at < 0) throw new RangeError(`at must be epoch milliseconds (a non-negative integer), got ${at}`);
  const d = new Date(at);
  // An instant beyond Date's range, or past year 9999, has no YYYY-MM-DD form.
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() > 9999) throw new RangeError(`${at} has no YYYY-MM-DD day`);
  return d.toISOString().slice(0, 10);
}

/** A real calendar day in YYYY-MM-DD form: a malformed one would silently read 0 and open the budget. */
export function isUtcDay(day: string): boolean {
  const m = DAY_RE.exec(day);
  return m !== null && new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))).toISOString().slice(0, 10) === day;
}
