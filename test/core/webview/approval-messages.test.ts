// The approval panel's messages are one schema both sides parse with: what the panel controller posts is what
// the webview accepts and renders, and what the webview sends is what the controller accepts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ApprovalView } from '../../../core/rpc/views';
import { ApprovalWebviewState, ExtensionToWebview, WebviewToExtension } from '../../../core/webview/approval-messages';
import { panelState, parseWebviewMessage } from '../../../extension/approval/panel-controller';

const AGENT = `did:vaultys:00${'ab'.repeat(19)}`;
const USER = `did:vaultys:01${'cd'.repeat(19)}`;
const REVIEWER = { did: `did:vaultys:01${'ef'.repeat(19)}`, name: 'rev', role: 'reviewer' as const };

const approval = (over: Partial<ApprovalView> = {}): ApprovalView => ({
  requestId: 'a'.repeat(32), intentId: 'b'.repeat(32), agent: AGENT, user: USER, capability: 'write_file',
  params: { path: 'notes.txt', content: 'line\nnext', mode: 'overwrite' }, cwd: '/srv', requestedAt: 1, expiresAt: Date.now() + 60_000,
  state: 'pending', decidedBy: null, reason: null, decidedAt: null, reviewersRequired: 1, approvals: [], modelCall: false, paramsTruncated: false, ...over,
});
const names = { agent: () => undefined, user: () => undefined };
const stateOf = (a: ApprovalView, error: string | null = null, reviewer: { did: string; name: string; role: 'reviewer' | 'admin' } = REVIEWER) =>
  panelState(a, { names, reviewer, connected: true, busy: false, error, notice: null, now: Date.now() });

describe('approval panel messages', () => {
  test('every state the panel controller builds is a message the webview accepts, unchanged', () => {
    const states = [
      stateOf(approval()),
      stateOf(approval({ state: 'approved', decidedBy: REVIEWER.did, reason: 'fine', decidedAt: 2 }), 'late'),
      stateOf(approval({ capability: 'run_command', params: { command: 'ls', args: ['-l'], cwd: '.', timeoutMs: 1000 }, user: REVIEWER.did })),
      // Issue 16: a two-person rule half-way, a model's call under self-review, and the admin's "approve and allow".
      stateOf(approval({ reviewersRequired: 2, approvals: [{ reviewer: USER, decidedAt: 3, selfReview: false }], rule: 'write_file rule 1: ask notes.txt (2 reviewers)' }), null, { ...REVIEWER, role: 'admin' }),
      stateOf(approval({ user: REVIEWER.did, modelCall: true, selfReview: true })),
    ];
    assert.deepEqual(states[3]!.quorum.approvedBy.map((p) => p.did), [USER]);
    assert.equal(states[3]!.allowCall?.rule, 'write_file allow notes.txt');
    assert.equal(states[4]!.selfReview, true);
    assert.equal(states[4]!.cannotDecide, null);
    for (const state of states) {
      const parsed = ExtensionToWebview.safeParse({ type: 'state', state });
      assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
      assert.deepEqual(parsed.data, { type: 'state', state });
    }
  });

  test('a panel without a live request is told so (waiting for the broker, or gone for good), with nothing else', () => {
    const gone = { type: 'unavailable', requestId: 'a'.repeat(32), message: 'The broker no longer holds this approval request.', final: true };
    assert.deepEqual(ExtensionToWebview.parse(gone), gone);
    assert.equal(ExtensionToWebview.safeParse({ ...gone, final: undefined }).success, false);
    assert.equal(ExtensionToWebview.safeParse({ ...gone, html: '<b>' }).success, false);
  });

  test('the webview refuses what is not a panel state: a missing field, an extra one, another type', () => {
    const state = stateOf(approval());
    const { busy: _busy, ...withoutBusy } = state;
    for (const message of [{ type: 'state', state: withoutBusy }, { type: 'state', state: { ...state, script: '<img>' } }, { type: 'eval', state }, null, 'state']) {
      assert.equal(ExtensionToWebview.safeParse(message).success, false, JSON.stringify(message));
    }
  });

  test('the controller reads what the webview sends with the same schema, and a saved state round-trips', () => {
    for (const message of [{ type: 'ready' }, { type: 'decide', decision: 'reject', reason: 'no' }, { type: 'openDiff' }, { type: 'approveAndAllow', reason: '' }, { type: 'close' }] as const) {
      assert.ok(WebviewToExtension.safeParse(message).success);
      assert.deepEqual(parseWebviewMessage(message), { ok: true, message });
    }
    assert.deepEqual(parseWebviewMessage({ type: 'decide', decision: 'approve', reason: 'x'.repeat(1001) }).ok, false);
    // The webview names no rule of its own: "approve and allow" carries a reason only, the rule is the broker's exact one.
    assert.equal(parseWebviewMessage({ type: 'approveAndAllow', reason: '', rule: { argv: ['*'] } }).ok, false);
    assert.equal(parseWebviewMessage({ type: 'close', requestId: 'a'.repeat(32) }).ok, false, 'Close closes its own panel, nothing it names');
    const saved = { requestId: 'a'.repeat(32), reason: 'typing…', last: stateOf(approval()) };
    assert.deepEqual(ApprovalWebviewState.parse(saved), saved);
    assert.equal(ApprovalWebviewState.safeParse({ ...saved, requestId: '../x' }).success, false);
  });
});
