/**
 * Times as people read them, in their own locale: "2 minutes ago" (Intl.RelativeTimeFormat) and a local date and
 * time. Shared by the result view model (extension) and its webview, which re-runs it on a display timer so the
 * text stays true without asking the broker again. Browser-safe: Intl only.
 */

const UNITS: readonly [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

/** A locale tag Intl accepts, else English: the workbench's language id is a hint, never trusted to be valid. */
export function usableLocale(locale: string): string {
  try {
    return Intl.getCanonicalLocales(locale)[0] ?? 'en';
  } catch {
    return 'en';
  }
}

/** "2 minutes ago", "in 5 seconds", "now": the largest unit that fits, rounded toward zero. */
export function relativeTime(at: number, now: number, locale: string): string {
  const format = new Intl.RelativeTimeFormat(usableLocale(locale), { numeric: 'auto' });
  const seconds = Math.round((at - now) / 1000);
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') return format.format(Math.trunc(seconds / size), unit);
  }
  return format.format(0, 'second');
}

/** A local date and time, e.g. "5 Dec 2026, 13:51:08" in en-GB. */
export function localTime(at: number, locale: string): string {
  return new Intl.DateTimeFormat(usableLocale(locale), { dateStyle: 'medium', timeStyle: 'medium' }).format(new Date(at));
}
