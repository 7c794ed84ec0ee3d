/**
 * Two-person approvals and self-review of model calls (issue 16), on a real broker with real WebSocket clients: an
 * in-process agent (RogueAgent, a real hub socket) asks for reviewers the way an agent whose rule says `reviewers: 2`
 * or `selfReview: "model-calls"` does. Each decision is signed by its reviewer's own key, countersigned and delivered
 * at once; the request stays pending until the count is reached; the same reviewer twice, the requester (unless the
 * broker's own intent record says a model chose the call and the rule allows it) and a forged signature are refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { open, seal, VaultysId } from '../../core/identity';
import { RpcErrorCode } from '../../core/rpc/methods';
import type { ApprovalView, IntentSummary } from '../../core/rpc/views';
import { ApprovalCountersignBody, ApprovalDecisionBody, type ApprovalRequestBody } from '../../core/wire/approval';
import type { Capability } from '../../core/wire/policy';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { IdType, SecretIdentity } from '../../core/identity';
import { waitFor, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { RogueAgent, type Handshake, type HubSocket } from './support/rogue-agent';
import { auditLines, b64, call, decisionParams, expectRpcError, joinAs, ownerOf, type Member } from './support/team';

exitIfHeldOpen();
const started = new Started();

let broker: BrokerProcess;
let owner: Member;
let admin: Member; // dispatches, and reviews
let bob: Member; // reviewer
let carol: Member; // reviewer
let agent: RogueAgent;
let hub: HubSocket;
let handshake: Handshake;

const CAPABILITIES: Capability[] = ['read_file', 'write_file', 'llm_task'];

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  admin = await joinAs(broker, owner, 'admin', 'adele');
  bob = await joinAs(broker, owner, 'reviewer', 'bob');
  carol = await joinAs(broker, owner, 'reviewer', 'carol');
  agent = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'quorum', requested: CAPABILITIES, agentVersion: '0.4.0' });
  ({ hub } = await bounded('agent handshake', agent.authenticate()));
  await call(owner, 'registrationsApprove', { did: agent.did, policy: { capabilities: CAPABILITIES, approvalRequired: ['write_file'] } });
  await hub.next('update_capabilities');
  ({ handshake } = await bounded('agent renewal', agent.authenticate(hub)));
});

after(async () => {
  hub?.close();
  for (const m of [admin, bob, carol]) m?.client.close();
  await started.cleanup();
});

let seq = 0;

/**
 * `who` dispatches `capability`; the agent receives it and asks for a reviewer on `asked` (the intent's own call by
 * default, or a call a task's model chose) with the rule's `reviewers` and `selfReview`.
 */
async function paused(
  who: Member,
  capability: Capability,
  params: Record<string, unknown>,
  ask: Partial<Pick<ApprovalRequestBody, 'reviewers' | 'selfReview' | 'rule' | 'capability' | 'params'>> = {},
): Promise<{ intent: IntentSummary; approval: ApprovalView }> {
  const sent = await call(who, 'intentsDispatch', { agent: agent.did, capability, params });
  assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
  const frame = await hub.next('intent');
  const body = agent.openIntent(frame.envelope, handshake.certificate.responder);
  assert.equal(body.id, sent.id);
  const requestedAt = Date.now();
  const request: ApprovalRequestBody = {
    requestId: `${(++seq).toString(16).padStart(8, '0')}${'0'.repeat(24)}`,
    intentId: body.id,
    agent: agent.did,
    user: body.user,
    capability: body.capability as ApprovalRequestBody['capability'],
    params: body.params,
    cwd: '/workspace',
    requestedAt,
    expiresAt: requestedAt + handshake.policy.approvalTimeoutMs,
    ...ask,
  };
  hub.send({ type: 'approval/request', envelope: seal(agent.identity, 'vaultysclaw/approval-request/v1', request) });
  const approval = await waitFor('the approval request to be stored', async () =>
    (await call(owner, 'approvalsList', { state: 'pending' })).items.find((a) => a.requestId === request.requestId),
  );
  return { intent: sent, approval };
}

const decide = (m: Member, approval: ApprovalView, decision: 'approve' | 'reject', reason: string | null = null) =>
  call(m, 'approvalsDecide', decisionParams(m.identity, approval, decision, { reason }));

/** The next approval/decision frame the agent gets: its reviewer and decision, the countersignature verified. */
async function delivered(): Promise<{ reviewer: string; decision: string; requestId: string }> {
  const { bundle } = await hub.next('approval/decision');
  const reviewer = VaultysId.fromBytes(bundle.reviewerId);
  const decision = open(reviewer, 'vaultysclaw/approval-decision/v1', bundle.decision);
  assert.ok(decision.ok, 'signed by the reviewer');
  const body = ApprovalDecisionBody.parse(decision.body);
  const counter = open(handshake.certificate.responder, 'vaultysclaw/approval-countersign/v1', bundle.countersignature);
  assert.ok(counter.ok, 'countersigned by the broker');
  assert.equal(ApprovalCountersignBody.parse(counter.body).reviewer, reviewer.did);
  return { reviewer: reviewer.did, decision: body.decision, requestId: body.requestId };
}

const decidedLines = (requestId: string) => auditLines(broker.dataDir).filter((l) => l.event === 'approval.decided' && l.requestId === requestId);

describe('two-person approvals', () => {
  test('a request for 2 reviewers stays pending after the first approval (1 of 2), each decision reaches the agent at once, the second approves it', async () => {
    const { approval } = await paused(admin, 'write_file', { path: 'deploy.yml', content: 'x', mode: 'create' }, { reviewers: 2, rule: 'write_file rule 1: ask deploy.yml (2 reviewers)' });
    assert.deepEqual([approval.reviewersRequired, approval.approvals, approval.rule], [2, [], 'write_file rule 1: ask deploy.yml (2 reviewers)']);

    const first = await decide(bob, approval, 'approve');
    assert.equal(first.state, 'pending', 'one approval of two decides nothing');
    assert.deepEqual(first.approvals.map((a) => a.reviewer), [bob.did]);
    assert.equal(first.decidedBy, null);
    assert.deepEqual(await delivered(), { reviewer: bob.did, decision: 'approve', requestId: approval.requestId });

    const second = await decide(carol, approval, 'approve');
    assert.equal(second.state, 'approved');
    assert.deepEqual(second.approvals.map((a) => a.reviewer), [bob.did, carol.did]);
    assert.equal(second.decidedBy, carol.did);
    assert.deepEqual(await delivered(), { reviewer: carol.did, decision: 'approve', requestId: approval.requestId });

    const lines = await waitFor('both decisions audited', () => (decidedLines(approval.requestId).length === 2 ? decidedLines(approval.requestId) : undefined));
    assert.deepEqual(lines.map((l) => [l.reviewer, l.approvals, l.required]), [[bob.did, 1, 2], [carol.did, 2, 2]]);
  });

  test('the same reviewer twice is refused -32009 and audited; a replay of the first envelope too; the count stays 1', async () => {
    const { approval } = await paused(admin, 'write_file', { path: 'twice.txt', content: 'x', mode: 'create' }, { reviewers: 2 });
    const envelope = decisionParams(bob.identity, approval, 'approve');
    assert.equal((await call(bob, 'approvalsDecide', envelope)).state, 'pending');
    await delivered();
    await expectRpcError(decide(bob, approval, 'approve'), RpcErrorCode.Conflict, /you already decided approval request .*: each approval must come from another reviewer/);
    await expectRpcError(call(bob, 'approvalsDecide', envelope), RpcErrorCode.Conflict, /you already decided/);
    const view = await call(owner, 'approvalsGet', { requestId: approval.requestId });
    assert.deepEqual([view.state, view.approvals.length], ['pending', 1]);
    assert.ok(
      auditLines(broker.dataDir).some((l) => l.event === 'approval.decision-refused' && l.did === bob.did && String(l.reason).includes(approval.requestId)),
      'the second decision by the same reviewer is audited',
    );
    assert.equal(decidedLines(approval.requestId).length, 1);
    await decide(carol, approval, 'reject', 'cleanup');
    await delivered();
  });

  test('a forged second approval (carol sends a decision signed with bob\'s key) is refused -32003 and counts nothing', async () => {
    const { approval } = await paused(admin, 'write_file', { path: 'forged.txt', content: 'x', mode: 'create' }, { reviewers: 2 });
    await decide(bob, approval, 'approve');
    await delivered();
    const forged = seal(bob.identity, 'vaultysclaw/approval-decision/v1', {
      requestId: approval.requestId, intentId: approval.intentId, agent: approval.agent, decision: 'approve', reason: null, reviewer: carol.did, decidedAt: Date.now(),
    });
    await expectRpcError(call(carol, 'approvalsDecide', { payload: b64(forged.payload), signature: b64(forged.signature) }), RpcErrorCode.Forbidden, /signed by your own key/);
    assert.deepEqual((await call(owner, 'approvalsGet', { requestId: approval.requestId })).approvals.map((a) => a.reviewer), [bob.did]);
    await decide(carol, approval, 'reject');
    await delivered();
  });

  test('any one rejection ends it: approved once, then rejected, the request is rejected and a third reviewer gets -32009', async () => {
    const { approval } = await paused(admin, 'write_file', { path: 'three.txt', content: 'x', mode: 'create' }, { reviewers: 3 });
    assert.equal((await decide(bob, approval, 'approve')).state, 'pending');
    const rejected = await decide(carol, approval, 'reject', 'not this one');
    assert.deepEqual([rejected.state, rejected.reason, rejected.decidedBy, rejected.approvals.length], ['rejected', 'not this one', carol.did, 1]);
    await expectRpcError(decide(owner, approval, 'approve'), RpcErrorCode.Conflict, /is already rejected/);
    assert.deepEqual([(await delivered()).decision, (await delivered()).decision], ['approve', 'reject']);
  });
});

describe('self-review of model calls', () => {
  const task = { instruction: 'update the notes', tools: ['write_file'] };
  const modelWrite = { capability: 'write_file' as const, params: { path: 'notes.md', content: 'by the model', mode: 'overwrite' } };

  test('the requester of a typed call is refused -32003 (approval.self-refused), even when the agent says selfReview', async () => {
    const { approval } = await paused(admin, 'write_file', { path: 'typed.txt', content: 'x', mode: 'create' }, { selfReview: true });
    assert.equal(approval.modelCall, false, "the broker's intent record: the user typed this call");
    await expectRpcError(decide(admin, approval, 'approve'), RpcErrorCode.Forbidden, /self-review is for calls a model chose/);
    assert.ok(auditLines(broker.dataDir).some((l) => l.event === 'approval.self-refused' && l.did === admin.did && l.requestId === approval.requestId));
    assert.equal((await call(owner, 'approvalsGet', { requestId: approval.requestId })).approvals.length, 0);
    await decide(bob, approval, 'reject');
    await delivered();
  });

  test("the requester of a task whose rule does not allow self-review is refused on its model's call", async () => {
    const { approval } = await paused(admin, 'llm_task', task, modelWrite);
    assert.equal(approval.modelCall, true);
    await expectRpcError(decide(admin, approval, 'approve'), RpcErrorCode.Forbidden, /nobody approves a tool call of their own intent/);
    await decide(bob, approval, 'reject');
    await delivered();
  });

  test("an agent that claims selfReview on a model call its certified rules do not let the requester review: -32003", async () => {
    const { approval } = await paused(admin, 'llm_task', task, { ...modelWrite, selfReview: true });
    assert.deepEqual([approval.modelCall, approval.selfReview], [true, true]);
    await expectRpcError(decide(admin, approval, 'approve'), RpcErrorCode.Forbidden, /the agent's certified rules do not let the requester review this call/);
    await decide(bob, approval, 'reject');
    await delivered();
  });

  test('with selfReview, the dispatching user approves their task\'s model call: audited selfReview true, and with 2 reviewers another person is still needed', async () => {
    // The rule the agent read the request from, in the certificate it holds.
    const rules: PolicyRules = { write_file: { rules: [{ effect: 'ask', match: { path: 'notes.md' }, reviewers: 2, selfReview: 'model-calls' }] } };
    const changed = await call(owner, 'policySet', { did: agent.did, policy: { capabilities: CAPABILITIES, approvalRequired: ['write_file'], rules } });
    await hub.next('update_capabilities');
    ({ handshake } = await bounded('agent renewal', agent.authenticate(hub)));
    assert.equal(handshake.policy.policyVersion, changed.policy?.policyVersion);
    const { approval } = await paused(admin, 'llm_task', task, { ...modelWrite, selfReview: true, reviewers: 2 });
    assert.deepEqual([approval.modelCall, approval.selfReview, approval.reviewersRequired], [true, true, 2]);
    const own = await decide(admin, approval, 'approve');
    assert.deepEqual([own.state, own.approvals], ['pending', [{ reviewer: admin.did, decidedAt: own.approvals[0]!.decidedAt, selfReview: true }]]);
    assert.equal((await delivered()).reviewer, admin.did);
    await expectRpcError(decide(admin, approval, 'approve'), RpcErrorCode.Conflict, /you already decided/);
    assert.equal((await decide(bob, approval, 'approve')).state, 'approved');
    assert.equal((await delivered()).reviewer, bob.did);
    const lines = decidedLines(approval.requestId);
    assert.deepEqual(lines.map((l) => [l.reviewer, l.selfReview, l.approvals, l.required]), [[admin.did, true, 1, 2], [bob.did, undefined, 2, 2]]);
  });
});
