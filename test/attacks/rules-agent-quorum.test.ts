/**
 * Issue 16, agent side: the rules of the certified policy decide each direct intent on the agent, offline, and an
 * ask rule's two-person quorum is counted there. The real IntentRunner with real SQLite stores and a real
 * sandbox; decisions are signed by real reviewer keys and countersigned by the pinned broker's key, as the broker
 * relays them. Every way of getting a call through with fewer distinct reviewers than its rule names is refused,
 * and the call does not run.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { IdType, seal, SecretIdentity } from '../../core/identity';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { approvalRequest, dispatch, refusedDecisions, settle, withRules } from '../agent/support/rules-runner';
import { withByte } from './support/bytes';
import { policy, RunnerHarness } from './support/runner-harness';

let harness: RunnerHarness | undefined;
afterEach(() => {
  harness?.cleanup();
  harness = undefined;
});

/** Writes under release/ need two people; everything else is written at once. */
const TWO_PERSON: PolicyRules = {
  write_file: {
    default: 'allow',
    rules: [{ effect: 'ask', match: { path: 'release/**' }, reviewers: 2, selfReview: 'model-calls', note: 'two people sign a release' }],
  },
};

/** `null`: a certificate from before rules existed. */
function setup(rules: PolicyRules | null = TWO_PERSON, over: Parameters<typeof policy>[0] = {}): RunnerHarness {
  harness = new RunnerHarness(policy({ capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: [], ...(rules ? { rules } : {}), ...over }));
  mkdirSync(join(harness.workspace, 'release'));
  return harness;
}

const carol = SecretIdentity.generate(IdType.Person);
let seq = 0;

/** A write under release/ dispatched by the harness's user: in flight, with its signed approval request. */
async function pausedRelease(h: RunnerHarness) {
  const path = `release/notes-${++seq}.txt`;
  const body = h.intent({ capability: 'write_file', params: { path, content: 'v1\n', mode: 'create' } });
  const result = dispatch(h, body);
  const request = await approvalRequest(h, body.id);
  return { body, result, request, file: join(h.workspace, path) };
}

/** Nothing answered and nothing written: the call still waits. */
async function assertStillWaiting(h: RunnerHarness, intentId: string, file: string): Promise<void> {
  await settle();
  assert.equal(existsSync(file), false, 'the call ran before its quorum');
  assert.deepEqual(h.frames.filter((f) => f.type === 'result'), [], 'the call was answered before its quorum');
  assert.equal(h.logs.filter((l) => l.event === 'approval.granted' && l.intentId === intentId).length, 0);
}

describe('rules on a direct intent', () => {
  test('Two-person rule: a write under release/ waits for two distinct reviewers, asked with reviewers 2, selfReview false and the rule; one approval is not enough', async () => {
    const h = setup();
    const { body, result, request, file } = await pausedRelease(h);
    assert.equal(request.reviewers, 2);
    // The user typed these params: reviewing them would be approving their own request, whatever the rule allows a model's calls.
    assert.equal(request.selfReview, false);
    assert.match(request.rule ?? '', /release\/\*\*/);
    assert.deepEqual(request.params, body.params);
    h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
    await assertStillWaiting(h, body.id, file);
    assert.ok(h.logs.some((l) => l.event === 'approval.counted' && l.approvals === 1 && l.required === 2));
    h.runner.onApprovalDecision(h.decision(request, 'approve', carol), h.session);
    const [done] = await result;
    assert.equal(done?.outcome, 'succeeded', `${done?.reason}: ${done?.message}`);
    assert.equal(existsSync(file), true);
    assert.deepEqual(h.logs.find((l) => l.event === 'approval.granted' && l.intentId === body.id)?.reviewers, [h.reviewer.did, carol.did]);
    assert.equal(h.executedCount(), 1);
  });

  test('Replayed approval: the first approval delivered again as the second, or signed again by the same reviewer, counts once', async () => {
    const h = setup();
    const { body, result, request, file } = await pausedRelease(h);
    const first = h.decision(request, 'approve');
    h.runner.onApprovalDecision(first, h.session);
    h.runner.onApprovalDecision(first, h.session);
    h.clock += 1; // a fresh decision by the same reviewer: other bytes, other signature, still one person
    h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
    await assertStillWaiting(h, body.id, file);
    const refusals = refusedDecisions(h);
    assert.equal(refusals.length, 2);
    for (const detail of refusals) assert.match(detail, new RegExp(`^${h.reviewer.did} already approved request ${request.requestId}; a reviewer counts once$`));
    h.runner.onApprovalDecision(h.decision(request, 'approve', carol), h.session);
    assert.equal((await result)[0]?.outcome, 'succeeded');
    assert.equal(h.executedCount(), 1);
  });

  test('Forged second approval: a bad reviewer signature, a countersignature by another key, one over other decision bytes, one naming another request: none counts', async () => {
    const h = setup();
    const { body, result, request, file } = await pausedRelease(h);
    const bob = h.decision(request, 'approve');
    h.runner.onApprovalDecision(bob, h.session);
    const genuine = h.decision(request, 'approve', carol);
    const stranger = SecretIdentity.generate(IdType.Machine);
    const countersign = (signer: SecretIdentity, over: Record<string, unknown>) =>
      seal(signer, 'vaultysclaw/approval-countersign/v1', {
        requestId: request.requestId,
        reviewer: carol.did,
        decisionSha256: createHash('sha256').update(genuine.decision.payload).digest('hex'),
        countersignedAt: h.clock,
        ...over,
      });
    const forgeries = [
      { ...genuine, decision: { ...genuine.decision, signature: withByte(genuine.decision.signature, genuine.decision.signature.length - 1) } },
      { ...genuine, countersignature: countersign(stranger, {}) },
      { ...genuine, countersignature: countersign(h.broker, { decisionSha256: createHash('sha256').update(bob.decision.payload).digest('hex') }) },
      { ...genuine, countersignature: countersign(h.broker, { requestId: 'ab'.repeat(16) }) },
    ];
    for (const forged of forgeries) h.runner.onApprovalDecision(forged, h.session);
    await assertStillWaiting(h, body.id, file);
    const refusals = refusedDecisions(h);
    assert.equal(refusals.length, 4);
    assert.match(refusals[0]!, /^decision: /);
    assert.match(refusals[1]!, /^countersignature: /);
    assert.equal(refusals[2], 'the countersignature covers another decision');
    assert.equal(refusals[3], 'countersignature and decision name different requests');
    // Control: the very decision, countersigned by the pinned broker over its bytes, completes the quorum.
    h.runner.onApprovalDecision(genuine, h.session);
    assert.equal((await result)[0]?.outcome, 'succeeded');
  });

  test('The requester as second reviewer of their own typed intent: refused even under a rule that lets users review model calls; the call expires', async () => {
    const h = setup(TWO_PERSON, { approvalTimeoutMs: 400 });
    const { body, result, request, file } = await pausedRelease(h);
    h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
    h.runner.onApprovalDecision(h.decision(request, 'approve', h.user), h.session);
    assert.deepEqual(refusedDecisions(h), ['a user cannot approve a tool call of their own intent']);
    const [done] = await result;
    assert.deepEqual([done?.intentId, done?.outcome, done?.reason], [body.id, 'rejected', 'approval-expired']);
    assert.equal(existsSync(file), false);
    assert.equal(h.executedCount(), 0);
  });

  test('A rejection after one approval ends the wait at once: approval-rejected, naming the reviewer, nothing written', async () => {
    const h = setup();
    const { result, request, file } = await pausedRelease(h);
    h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
    h.runner.onApprovalDecision(h.decision(request, 'reject', carol), h.session);
    const [done] = await result;
    assert.equal(done?.reason, 'approval-rejected');
    assert.equal(done?.message, `rejected by ${carol.did}`);
    assert.equal(existsSync(file), false);
    assert.equal(h.executedCount(), 0);
  });

  test("A policy change between the first and second approval: the new certificate's deny refuses the call rule-denied", async () => {
    const h = setup();
    const { result, request, file } = await pausedRelease(h);
    h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
    await settle();
    h.session = { ...h.session, policy: withRules(h, { write_file: { rules: [{ effect: 'deny', match: { path: 'release/**' }, note: 'release frozen' }] } }) };
    h.runner.onApprovalDecision(h.decision(request, 'approve', carol), h.session);
    const [done] = await result;
    assert.equal(done?.reason, 'rule-denied', done?.message);
    assert.match(done?.message ?? '', /release\/\*\*/);
    assert.equal(existsSync(file), false);
    assert.equal(h.executedCount(), 0);
  });

  test('A policy change between the first and second approval: a rule now asking for 3 reviewers refuses the call with 2, saying so', async () => {
    const h = setup();
    const { result, request, file } = await pausedRelease(h);
    h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
    await settle();
    h.session = { ...h.session, policy: withRules(h, { write_file: { default: 'allow', rules: [{ effect: 'ask', match: { path: 'release/**' }, reviewers: 3 }] } }) };
    h.runner.onApprovalDecision(h.decision(request, 'approve', carol), h.session);
    const [done] = await result;
    assert.equal(done?.reason, 'approval-required', done?.message);
    assert.match(done?.message ?? '', /^the policy now requires 3 reviewers .*this call has 2 approvals; dispatch again$/);
    assert.equal(existsSync(file), false);
    assert.equal(h.executedCount(), 0);
  });

  test('A deny rule refuses rule-denied before anything runs: no reviewer is asked, nothing is written, the refusal is a signed result like any gate', async () => {
    const h = setup({ write_file: { rules: [{ effect: 'deny', match: { path: '**/.env*' }, note: 'secrets' }] } }, { approvalRequired: ['write_file'] });
    mkdirSync(join(h.workspace, 'app'));
    const body = h.intent({ capability: 'write_file', params: { path: 'app/../.env.local', content: 'TOKEN=x\n', mode: 'create' } });
    const r = await h.expectRefused(h.seal(body), body.id, 'rule-denied');
    assert.match(r.message, /\*\*\/\.env\*/);
    assert.equal(h.approvalRequests().length, 0, 'deny beats any approval: nobody is asked');
    assert.equal(existsSync(join(h.workspace, '.env.local')), false);
    assert.equal(h.executedCount(), 0);
    assert.ok(h.logs.some((l) => l.event === 'intent.rejected' && l.intentId === body.id && l.reason === 'rule-denied'));
  });

  test('The hourly window follows the rule, not approvalRequired: an allowed write runs at once and counts; a write the rules ask about counts only when it runs', async () => {
    const h = setup({ write_file: { default: 'ask', rules: [{ effect: 'allow', match: { path: 'src/**' } }] } }, { approvalRequired: ['write_file'] });
    mkdirSync(join(h.workspace, 'src'));
    const allowed = h.intent({ capability: 'write_file', params: { path: 'src/a.txt', content: 'a\n', mode: 'create' } });
    await h.expectSucceeded(h.seal(allowed), allowed.id);
    assert.equal(h.approvalRequests().length, 0);
    assert.equal(h.executedCount(), 1);
    const asked = h.intent({ capability: 'write_file', params: { path: 'b.txt', content: 'b\n', mode: 'create' } });
    const result = dispatch(h, asked);
    const request = await approvalRequest(h, asked.id);
    assert.equal(request.reviewers, 1);
    assert.equal(h.executedCount(), 1, 'a call waiting for its reviewer is not counted yet');
    h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
    assert.equal((await result)[0]?.outcome, 'succeeded');
    assert.equal(h.executedCount(), 2);
  });
});

describe('an old certificate, without rules', () => {
  test('approvalRequired pauses exactly as before: a request without reviewers, selfReview or rule; the requester is refused; one reviewer runs it', async () => {
    const h = setup(null, { approvalRequired: ['write_file'] });
    const { body, result, request, file } = await pausedRelease(h);
    assert.deepEqual(Object.keys(request).sort(), ['agent', 'capability', 'cwd', 'expiresAt', 'intentId', 'params', 'requestId', 'requestedAt', 'user']);
    h.runner.onApprovalDecision(h.decision(request, 'approve', h.user), h.session);
    assert.deepEqual(refusedDecisions(h), ['a user cannot approve a tool call of their own intent']);
    await assertStillWaiting(h, body.id, file);
    h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
    assert.equal((await result)[0]?.outcome, 'succeeded');
    assert.equal(existsSync(file), true);
  });

  test('a capability outside approvalRequired runs at once', async () => {
    const h = setup(null);
    const body = h.intent({ capability: 'write_file', params: { path: 'release/now.txt', content: 'x\n', mode: 'create' } });
    await h.expectSucceeded(h.seal(body), body.id);
    assert.equal(h.approvalRequests().length, 0);
    assert.equal(h.executedCount(), 1);
  });
});
