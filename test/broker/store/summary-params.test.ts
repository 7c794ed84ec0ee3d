import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readSummary, summarizeApproval, summarizeIntent, summarizeParams, summaryColumns } from '../../../broker/store/summary-params';
import { BUDGETS } from '../../../core/budgets';
import type { ApprovalView, IntentView } from '../../../core/rpc/views';

const CHARS = BUDGETS.summaryTextChars.limit;

describe('summarizeParams', () => {
  test('small params are shown as they are, not flagged', () => {
    const params = { path: 'a.txt', mode: 420, flags: ['x'], nested: { a: 1 } };
    assert.deepEqual(summarizeParams(params), { params, truncated: false });
  });

  test('a nested value whose JSON passes the budget is shown as the start of its JSON, flagged', () => {
    const big = { list: Array.from({ length: 200 }, (_, i) => i) };
    const { params, truncated } = summarizeParams({ big });
    assert.equal(truncated, true);
    assert.equal(params.big, `${JSON.stringify(big).slice(0, CHARS)}…`);
  });

  test('a key longer than the budget is cut and flagged', () => {
    const key = 'k'.repeat(CHARS + 1);
    const { params, truncated } = summarizeParams({ [key]: 1 });
    assert.equal(truncated, true);
    assert.deepEqual(Object.keys(params), [`${'k'.repeat(CHARS)}…`]);
  });

  test('thousands of keys (a refused request) cost a summary a few values’ worth: the rest are left out and flagged', () => {
    const many = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`key${i}`, 'v'.repeat(CHARS)]));
    const { params, truncated } = summarizeParams(many);
    assert.equal(truncated, true);
    assert.ok(Object.keys(params).length <= 10, `${Object.keys(params).length} keys kept`);
    assert.ok(Buffer.byteLength(JSON.stringify(params)) < 20 * CHARS);
  });

  test('an undefined or null value is kept as it is and never throws (the JSON of undefined is no text)', () => {
    assert.deepEqual(summarizeParams({ u: undefined, n: null }), { params: { u: undefined, n: null }, truncated: false });
  });
});

describe('summaries written with the row and read back', () => {
  test('summaryColumns then readSummary gives back the summary and its flag', () => {
    const params = { content: 'c'.repeat(CHARS + 10) };
    const columns = summaryColumns(params);
    assert.equal(columns.paramsTruncated, 1);
    assert.deepEqual(readSummary({ params_summary: columns.paramsSummary, params_truncated: columns.paramsTruncated, params_small: null }), summarizeParams(params));
  });

  test('a row from before summaries: small params are summarized when read; without them the list shows none, flagged', () => {
    const small = { content: 'c'.repeat(CHARS + 1) };
    assert.deepEqual(readSummary({ params_summary: null, params_truncated: null, params_small: JSON.stringify(small) }), summarizeParams(small));
    assert.deepEqual(readSummary({ params_summary: null, params_truncated: null, params_small: null }), { params: {}, truncated: true });
  });
});

describe('summarized views', () => {
  const view: IntentView = {
    id: 'i', agent: 'a', capability: 'write_file', params: { content: 'c'.repeat(CHARS * 4) }, user: 'u', state: 'succeeded',
    outcome: 'succeeded', reason: null, rejectedBy: null, message: null, output: { content: 'o' }, createdAt: 1, updatedAt: 2,
    signedIntent: { payload: 'p', signature: 's' }, signedResult: null,
  };

  test('an intent summary has no output and no envelopes, and its params summarized', () => {
    const summary = summarizeIntent(view);
    assert.equal('output' in summary || 'signedIntent' in summary || 'signedResult' in summary, false);
    assert.equal(summary.paramsTruncated, true);
    assert.equal((summary.params.content as string).length, CHARS + 1);
  });

  test('an approval stays flagged when it already was, and is flagged when its params are cut now', () => {
    const approval: ApprovalView = {
      requestId: 'r', intentId: 'i', agent: 'a', user: 'u', capability: 'write_file', params: { path: 'x' }, cwd: '/w', requestedAt: 1, expiresAt: 2,
      state: 'pending', decidedBy: null, reason: null, decidedAt: null, reviewersRequired: 1, approvals: [], modelCall: false, paramsTruncated: true,
    };
    assert.equal(summarizeApproval(approval).paramsTruncated, true);
    assert.equal(summarizeApproval({ ...approval, paramsTruncated: false }).paramsTruncated, false);
    assert.equal(summarizeApproval({ ...approval, paramsTruncated: false, params: view.params }).paramsTruncated, true);
  });
});
