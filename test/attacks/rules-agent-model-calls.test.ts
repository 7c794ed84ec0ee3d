/**
 * Issue 16, agent side: the tool calls an llm_task's model chooses meet the rules of the certificate in force, and
 * a rule may let the user who dispatched the task review them (selfReview "model-calls") — never a call they typed
 * themselves (rules-agent-quorum.test.ts). The real IntentRunner with a model (a scripted OpenAI-compatible
 * endpoint on 127.0.0.1), real stores and sandbox, real reviewer keys and broker countersignatures.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { IdType, SecretIdentity } from '../../core/identity';
import type { PolicyRules } from '../../core/wire/policy-rules';
import type { ResultBody } from '../../core/wire/intent';
import { answers, callsTools, ScriptedModel, toolResults } from '../support/scripted-model';
import { approvalRequest, dispatch, giveModel, refusedDecisions, settle, withRules } from '../agent/support/rules-runner';
import { policy, RunnerHarness } from './support/runner-harness';

let model: ScriptedModel;
let harness: RunnerHarness | undefined;
before(async () => {
  model = await ScriptedModel.start();
});
after(async () => {
  await model?.close();
});
afterEach(() => {
  harness?.cleanup();
  harness = undefined;
});

const carol = SecretIdentity.generate(IdType.Person);

function setup(rules: PolicyRules): RunnerHarness {
  harness = new RunnerHarness(policy({ capabilities: ['llm_task', 'read_file', 'write_file'], approvalRequired: [], rules }));
  giveModel(harness, model);
  mkdirSync(join(harness.workspace, 'docs'));
  return harness;
}

const askWrites = (over: { reviewers?: number; selfReview?: 'model-calls' } = {}): PolicyRules => ({
  write_file: { default: 'allow', rules: [{ effect: 'ask', match: { path: 'docs/**' }, ...over }] },
});

/** A task whose model writes docs/out.txt, then answers: in flight, with the first model request index. */
function taskWritingDocs(h: RunnerHarness) {
  const from = model.requests.length;
  model.play([callsTools([{ name: 'write_file', args: { path: 'docs/out.txt', content: 'by the model\n', mode: 'create' } }], 100), answers('written', 20)]);
  const body = h.intent({
    capability: 'llm_task',
    params: { instruction: 'Write docs/out.txt', tools: ['write_file'] },
    delegation: h.delegation({ capabilities: ['llm_task', 'write_file'] }),
  });
  const file = join(h.workspace, 'docs', 'out.txt');
  return { body, result: dispatch(h, body), file, toolResult: () => toolResults(model.requests[from + 1]!)[0] };
}

function assertTaskDone(results: ResultBody[]): void {
  assert.equal(results.length, 1);
  assert.equal(results[0]!.outcome, 'succeeded', `${results[0]!.reason}: ${results[0]!.message}`);
}

describe("rules on a task's model calls", () => {
  test('Self-review of a model call: under selfReview "model-calls" the dispatching user approves the write their model chose (the request says selfReview true)', async () => {
    const h = setup(askWrites({ selfReview: 'model-calls' }));
    const { body, result, file, toolResult } = taskWritingDocs(h);
    const request = await approvalRequest(h, body.id);
    assert.deepEqual([request.capability, request.reviewers, request.selfReview], ['write_file', 1, true]);
    assert.deepEqual(request.params, { path: 'docs/out.txt', content: 'by the model\n', mode: 'create' });
    assert.equal(existsSync(file), false, 'nothing runs while waiting');
    h.runner.onApprovalDecision(h.decision(request, 'approve', h.user), h.session);
    assertTaskDone(await result);
    assert.equal(toolResult()?.status, 'done');
    assert.equal(readFileSync(file, 'utf8'), 'by the model\n');
    assert.deepEqual(refusedDecisions(h), []);
  });

  test('Two-person rule with self-review: the requester counts once (a second approval of theirs is ignored), another reviewer completes the quorum', async () => {
    const h = setup(askWrites({ selfReview: 'model-calls', reviewers: 2 }));
    const { body, result, file, toolResult } = taskWritingDocs(h);
    const request = await approvalRequest(h, body.id);
    assert.deepEqual([request.reviewers, request.selfReview], [2, true]);
    h.runner.onApprovalDecision(h.decision(request, 'approve', h.user), h.session);
    h.clock += 1;
    h.runner.onApprovalDecision(h.decision(request, 'approve', h.user), h.session);
    await settle();
    assert.equal(existsSync(file), false, 'one person twice is not two people');
    assert.deepEqual(refusedDecisions(h), [`${h.user.did} already approved request ${request.requestId}; a reviewer counts once`]);
    h.runner.onApprovalDecision(h.decision(request, 'approve', carol), h.session);
    assertTaskDone(await result);
    assert.equal(toolResult()?.status, 'done');
    assert.equal(existsSync(file), true);
  });

  test("The requester on a model call whose rule does not allow self-review: refused; another reviewer's approval runs it", async () => {
    const h = setup(askWrites());
    const { body, result, file, toolResult } = taskWritingDocs(h);
    const request = await approvalRequest(h, body.id);
    assert.deepEqual([request.reviewers, request.selfReview], [1, false]);
    h.runner.onApprovalDecision(h.decision(request, 'approve', h.user), h.session);
    await settle();
    assert.deepEqual(refusedDecisions(h), ['a user cannot approve a tool call of their own intent']);
    assert.equal(existsSync(file), false);
    h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
    assertTaskDone(await result);
    assert.equal(toolResult()?.status, 'done');
  });

  test("A deny rule refuses the model's call rule-denied before a reviewer is asked; the task goes on without it", async () => {
    const h = setup({ write_file: { default: 'ask', rules: [{ effect: 'deny', match: { path: 'docs/**' }, note: 'docs are generated elsewhere' }] } });
    const { result, file, toolResult } = taskWritingDocs(h);
    assertTaskDone(await result);
    assert.equal(toolResult()?.status, 'refused');
    assert.equal(toolResult()?.reason, 'rule-denied');
    assert.match(String(toolResult()?.message), /docs\/\*\*/);
    assert.equal(h.approvalRequests().length, 0);
    assert.equal(existsSync(file), false);
  });

  test('A task whose tools a deny rule names is refused rule-denied before its model is called', async () => {
    const h = setup({ llm_task: { rules: [{ effect: 'deny', match: { tools: ['run_command'] }, note: 'no commands from a model' }] } });
    const from = model.requests.length;
    const body = h.intent({
      capability: 'llm_task',
      params: { instruction: 'Build it', tools: ['read_file', 'run_command'] },
      delegation: h.delegation({ capabilities: ['llm_task', 'read_file', 'run_command'] }),
    });
    const [done] = await dispatch(h, body);
    assert.deepEqual([done?.outcome, done?.reason], ['rejected', 'rule-denied']);
    assert.match(done?.message ?? '', /no commands from a model/);
    assert.equal(model.requests.length, from, 'the model was called');
  });

  test('A policy change after a self-review: the new certificate no longer lets the requester review, so their approval no longer counts and the call is refused', async () => {
    const h = setup(askWrites({ selfReview: 'model-calls' }));
    const { body, result, file, toolResult } = taskWritingDocs(h);
    const request = await approvalRequest(h, body.id);
    h.session = { ...h.session, policy: withRules(h, askWrites()) };
    h.runner.onApprovalDecision(h.decision(request, 'approve', h.user), h.session);
    assertTaskDone(await result);
    assert.equal(toolResult()?.status, 'refused');
    assert.equal(toolResult()?.reason, 'approval-required');
    assert.match(String(toolResult()?.message), /^the policy now requires 1 reviewer .*this call has 0 approvals; dispatch again$/);
    assert.equal(existsSync(file), false);
  });
});
