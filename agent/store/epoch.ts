/**
 * Times reach the stores as epoch milliseconds (integers, spec §5.8). A NaN or
 * a fraction would be stored as NULL or fail a STRICT column far from its
 * cause, or — worse — compare false everywhere and open a gate; refuse it here.
 */
export function assertEpochMs(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be epoch milliseconds (a non-negative integer), got ${value}`);
}
