import { sql } from 'kysely';
import { BUDGETS } from '../../core/budgets';
import type { ApprovalView, IntentSummary, IntentView } from '../../core/rpc/views';

/** A summary holds this many values' worth of characters at most, whatever the number of keys a refused request carried. */
const SUMMARY_VALUES = 8;

const cut = (text: string, chars: number) => (text.length > chars ? `${text.slice(0, chars)}…` : text);

/**
 * The params of an intent or approval as a list shows them: each string cut
 * to BUDGETS.summaryTextChars characters, nested values longer than that
 * shown as the start of their JSON, and no more than a few values' worth of
 * keys. A write_file of a megabyte costs a list a few hundred bytes; the whole
 * is one get away. Computed once, when the row is written.
 */
export function summarizeParams(params: Record<string, unknown>): { params: Record<string, unknown>; truncated: boolean } {
  const chars = BUDGETS.summaryTextChars.limit;
  const summary: Record<string, unknown> = {};
  let truncated = false;
  let used = 0;
  for (const [key, value] of Object.entries(params)) {
    if (used > SUMMARY_VALUES * chars) {
      truncated = true;
      break;
    }
    const text = typeof value === 'string' ? value : JSON.stringify(value) ?? 'null';
    const shown = typeof value === 'string' ? cut(value, chars) : text.length > chars ? cut(text, chars) : value;
    if (text.length > chars || key.length > chars) truncated = true;
    summary[cut(key, chars)] = shown;
    used += Math.min(key.length, chars) + Math.min(text.length, chars);
  }
  return { params: summary, truncated };
}

/** An intent view as lists and notifications carry it (IntentSummary): no output, no envelopes, params summarized. */
export function summarizeIntent(view: IntentView): IntentSummary {
  const { output: _output, signedIntent: _signedIntent, signedResult: _signedResult, params, ...rest } = view;
  const summary = summarizeParams(params);
  return { ...rest, params: summary.params, paramsTruncated: summary.truncated };
}

/** An approval as notifications carry it to every session: params summarized like a list's (the panel reads the whole with approvals/get). */
export function summarizeApproval(view: ApprovalView): ApprovalView {
  const summary = summarizeParams(view.params);
  return { ...view, params: summary.params, paramsTruncated: view.paramsTruncated || summary.truncated };
}

/**
 * Rows written before summaries existed have none: params up to this size are
 * summarized when read, larger ones are shown empty and flagged. A list never
 * reads more of a row's params than this.
 */
const UNSUMMARIZED_PARAMS_BYTES = 4 * 1024;

/** SummaryColumns' `params_small` (the same SQL on SQLite and PostgreSQL), for a select beside `params_summary` and `params_truncated`. */
export const paramsSmall = sql<string | null>`CASE WHEN params_summary IS NULL AND octet_length(params) <= ${sql.lit(UNSUMMARIZED_PARAMS_BYTES)} THEN params END`.as('params_small');

export interface SummaryColumns {
  params_summary: string | null;
  params_truncated: number | null;
  params_small: string | null;
}

/** The summary a list shows, from the summary columns a list selected (summaryColumns, paramsSmall). */
export function readSummary(row: SummaryColumns): { params: Record<string, unknown>; truncated: boolean } {
  if (row.params_summary !== null) return { params: JSON.parse(row.params_summary) as Record<string, unknown>, truncated: row.params_truncated === 1 };
  if (row.params_small !== null) return summarizeParams(JSON.parse(row.params_small) as Record<string, unknown>);
  return { params: {}, truncated: true };
}

/** The summary columns of a new row, computed once from the params in hand. */
export function summaryColumns(params: Record<string, unknown>): { paramsSummary: string; paramsTruncated: 0 | 1 } {
  const summary = summarizeParams(params);
  return { paramsSummary: JSON.stringify(summary.params), paramsTruncated: summary.truncated ? 1 : 0 };
}
