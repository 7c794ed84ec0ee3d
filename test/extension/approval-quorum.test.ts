// The approval panel under issue 16's rules, as the reviewer sees it and as the controller enforces it whatever
// the webview sends: quorum progress and who approved, the rule that asked, self-review of a model's call (the
// requester may decide only then), a reviewer who already approved cannot decide again, and "approve and allow
// this" offered to admins only, for the exact call (the rule comes from core/policy/rules.ts exactAllowRule).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ApprovalView } from '../../core/rpc/views';
import type { ExtensionToWebview } from '../../core/webview/approval-messages';
import { allowCallOffer, ApprovalPanelController, cannotDecide, panelState, type PanelHost, type Reviewer } from '../../extension/approval/panel-controller';

const AGENT = `did:vaultys:00${'ab'.repeat(19)}`;
const REQUESTER = `did:vaultys:01${'cd'.repeat(19)}`;
const ALICE = { did: `did:vaultys:01${'a1'.repeat(19)}`, name: 'alice', role: 'reviewer' } as const satisfies Reviewer;
const ADMIN = { did: `did:vaultys:01${'ad'.repeat(19)}`, name: 'ada', role: 'admin' } as const satisfies Reviewer;
const users: Record<string, string> = { [ALICE.did]: 'alice', [ADMIN.did]: 'ada', [REQUESTER]: 'rob' };
const names = { agent: () => undefined, user: (did: string) => (users[did] ? { name: users[did] } : undefined) } as unknown as PanelHost['names'];

const push = (over: Partial<ApprovalView> = {}): ApprovalView => ({
  requestId: 'a'.repeat(32), intentId: 'b'.repeat(32), agent: AGENT, user: REQUESTER, capability: 'run_command',
  params: { command: 'git', args: ['push', 'origin', 'main'], cwd: '.', timeoutMs: 30_000 }, cwd: '/srv', requestedAt: 1, expiresAt: Date.now() + 60_000,
  state: 'pending', decidedBy: null, reason: null, decidedAt: null, paramsTruncated: false,
  reviewers: 2, rule: 'run_command rule 2: ask ["git","push","*"] (2 reviewers)', reviewersRequired: 2, approvals: [], modelCall: false, ...over,
});
const stateFor = (a: ApprovalView, reviewer: Reviewer) => panelState(a, { names, reviewer, connected: true, busy: false, error: null, notice: null, now: Date.now() });

describe('the approval panel with rules', () => {
  test('quorum progress names who approved, and the rule that asked', () => {
    const none = stateFor(push(), ADMIN);
    assert.deepEqual(none.quorum, { required: 2, approvedBy: [] });
    assert.equal(none.rule, 'run_command rule 2: ask ["git","push","*"] (2 reviewers)');
    const one = stateFor(push({ approvals: [{ reviewer: ALICE.did, decidedAt: 5, selfReview: false }] }), ADMIN);
    assert.equal(one.quorum.required, 2);
    assert.equal(one.quorum.approvedBy.length, 1);
    assert.equal(one.quorum.approvedBy[0]!.did, ALICE.did);
    assert.match(one.quorum.approvedBy[0]!.name, /^alice \(/, 'the approver by name, with the fingerprint every name carries');
    assert.equal(one.cannotDecide, null, 'a second, different reviewer may decide');
    assert.equal(stateFor(push({ rule: undefined }), ADMIN).rule, null);
  });

  test('a reviewer who already approved cannot decide again, and is told how many approvals are missing', () => {
    const a = push({ approvals: [{ reviewer: ALICE.did, decidedAt: 5, selfReview: false }] });
    assert.equal(cannotDecide(a, ALICE, true, Date.now()), 'You already approved this request; it waits for 1 more approval by somebody else.');
    assert.equal(stateFor(a, ALICE).allowCall, null, 'nor approve and allow it');
  });

  test('the requester decides only a model\'s call whose rule allows self-review', () => {
    const me = { did: REQUESTER, name: 'rob', role: 'reviewer' } as const;
    assert.match(cannotDecide(push(), me, true, Date.now()) ?? '', /You asked for this tool call: somebody else/);
    assert.match(cannotDecide(push({ modelCall: true }), me, true, Date.now()) ?? '', /its rule does not allow self-review/);
    assert.match(cannotDecide(push({ selfReview: true, modelCall: false }), me, true, Date.now()) ?? '', /You asked for this tool call/, 'a call the user typed is never self-reviewed, whatever the request claims');
    const self = push({ selfReview: true, modelCall: true });
    assert.equal(cannotDecide(self, me, true, Date.now()), null);
    const state = stateFor(self, me);
    assert.equal(state.selfReview, true);
    assert.equal(state.modelCall, true);
    assert.equal(stateFor(push({ modelCall: true }), ALICE).selfReview, false);
    assert.match(cannotDecide(self, { ...me, role: 'operator' }, true, Date.now()) ?? '', /role \(operator\) cannot decide/);
  });

  test('"approve and allow" is offered to an admin for the exact call, never to a reviewer', () => {
    const offer = allowCallOffer(push(), ADMIN, null);
    assert.deepEqual(offer, { call: 'git push origin main', rule: 'run_command allow ["git","push","origin","main"]' });
    assert.equal(stateFor(push(), ADMIN).allowCall?.rule, offer!.rule);
    assert.equal(stateFor(push(), ALICE).allowCall, null);
    assert.equal(stateFor(push(), { ...ADMIN, role: 'owner' }).allowCall?.call, 'git push origin main');
    // A call that cannot be named exactly gets no offer rather than a broader rule.
    assert.equal(allowCallOffer(push({ params: { command: './git', args: ['push'], cwd: '.', timeoutMs: 1000 } }), ADMIN, null), null);
    assert.equal(allowCallOffer(push({ params: { command: 'rm', args: ['*'], cwd: '.', timeoutMs: 1000 } }), ADMIN, null), null);
    assert.equal(allowCallOffer(push({ state: 'approved' }), ADMIN, 'This request is already approved.'), null);
    assert.deepEqual(allowCallOffer(push({ capability: 'write_file', params: { path: 'src/a*.ts', content: 'x', mode: 'create' } }), ADMIN, null)?.rule, 'write_file allow src/a\\*.ts');
  });

  test('the controller refuses an approveAndAllow a non-admin\'s webview sends, and does both steps for an admin', async () => {
    const run = async (reviewer: Reviewer) => {
      const posted: ExtensionToWebview[] = [];
      const calls: string[] = [];
      let approval = push();
      const host: PanelHost = {
        post: (m) => posted.push(m), approval: () => approval, names, reviewer: () => reviewer, connected: () => true, now: () => Date.now(), report: () => undefined,
        decide: async (a, decision) => {
          calls.push(`decide ${decision}`);
          approval = { ...a, approvals: [{ reviewer: reviewer.did, decidedAt: 9, selfReview: false }] };
          return approval;
        },
        allowCall: async () => {
          calls.push('allowCall');
          return 'allow ["git","push","origin","main"]';
        },
        withdraw: async () => assert.fail('nothing to withdraw'),
        openDiff: async () => null,
        lookup: async () => approval,
        setTitle: () => undefined,
        close: () => undefined,
      };
      const controller = new ApprovalPanelController(approval.requestId, host);
      await controller.receive({ type: 'ready' });
      await controller.receive({ type: 'approveAndAllow', reason: 'fine' });
      const last = posted[posted.length - 1]!;
      assert.equal(last.type, 'state');
      return { calls, last: last.type === 'state' ? last.state : assert.fail('no state posted') };
    };
    const reviewer = await run(ALICE);
    assert.deepEqual(reviewer.calls, [], 'nothing decided, nothing added');
    assert.match(reviewer.last.error ?? '', /offered to admins only/);
    const admin = await run(ADMIN);
    assert.deepEqual(admin.calls, ['decide approve', 'allowCall']);
    assert.equal(admin.last.error, null);
    assert.match(admin.last.notice ?? '', /now allows it from now on: run_command allow \["git","push","origin","main"\], first of its rules\./);
    assert.equal(admin.last.quorum.approvedBy.length, 1, '1 of 2 approvals after the first');
    assert.match(admin.last.cannotDecide ?? '', /already approved/);
  });
});
