/** Command-line values shared by the broker and agent CLIs: a positive number of seconds, returned in milliseconds. */
export function secondsOption(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${flag} must be a positive number of seconds`);
  return Math.round(value * 1000);
}

/** A positive whole number (a count, a size). */
export function positiveIntegerOption(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${flag} must be a positive whole number`);
  return value;
}
