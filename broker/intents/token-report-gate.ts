import { BUDGETS } from '../../core/budgets';
import { utcDay } from '../../core/policy/utc-day';
import type { TokenUsageReport } from '../../core/wire/task';

const DAY_MS = 24 * 60 * 60_000;

export type TokenReportVerdict =
  | { ok: true; tokens: number; clamped: boolean }
  | { ok: false; reason: 'day-out-of-window' | 'intent-not-in-flight'; message: string };

/**
 * What a signed token report may add to the broker's count (review finding 1). The agent signs its own
 * numbers, so a compromised one picks any: a report counts only for an intent it is answering, only on a day
 * the intent can have run (today, or back across midnight within BUDGETS.tokenReportDays), and at most the
 * daily budget its certificate allows — an honest task stops there, so anything above it is clamped, never
 * summed. The count of an agent's day is then at most its intents in flight times its budget: it cannot
 * overflow, nor be pushed to a day that has not begun so as to refuse its intents tomorrow.
 */
export function gateTokenReport(report: TokenUsageReport, at: { now: number; inFlight: boolean; maxTokensPerDay: number }): TokenReportVerdict {
  if (!at.inFlight) return { ok: false, reason: 'intent-not-in-flight', message: 'tokens are reported only while an intent is being answered' };
  if (!reportableDays(at.now).includes(report.day)) {
    return { ok: false, reason: 'day-out-of-window', message: `day ${report.day} is not one of the last ${BUDGETS.tokenReportDays.limit} UTC days` };
  }
  const ceiling = Math.min(at.maxTokensPerDay, BUDGETS.tokensPerIntentDay.limit);
  return report.tokens > ceiling ? { ok: true, tokens: ceiling, clamped: true } : { ok: true, tokens: report.tokens, clamped: false };
}

function reportableDays(now: number): string[] {
  return Array.from({ length: BUDGETS.tokenReportDays.limit }, (_, back) => utcDay(now - back * DAY_MS));
}
