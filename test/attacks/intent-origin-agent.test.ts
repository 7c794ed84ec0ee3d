/**
 * Issue 18, agent side: an intent's signed `via` (a model dispatched it) on the real IntentRunner with real SQLite
 * stores and a real sandbox; reviewer decisions signed by real keys and countersigned by the pinned broker's key.
 * The agent verifies the broker's signature over `via` like over every other field, applies rules with chosenBy
 * "model" only to a call a model chose, and lets the requester review only such a call (selfReview "model-calls").
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { seal } from '../../core/identity';
import type { IntentOrigin } from '../../core/wire/intent-origin';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { approvalRequest, dispatch, refusedDecisions, settle } from '../agent/support/rules-runner';
import { policy, RunnerHarness } from './support/runner-harness';

let harness: RunnerHarness | undefined;
afterEach(() => {
  harness?.cleanup();
  harness = undefined;
});

/** A model's writes under docs/ wait for a reviewer (the requester may be one); a person's are written at once. */
const MODEL_WRITES_ASK: PolicyRules = {
  write_file: { default: 'allow', rules: [{ effect: 'ask', chosenBy: 'model', selfReview: 'model-calls', match: { path: 'docs/**' }, note: 'a model edits the docs' }] },
};
/** Every write under docs/ asks, and the requester may review a model's. */
const ALL_WRITES_ASK: PolicyRules = {
  write_file: { default: 'allow', rules: [{ effect: 'ask', selfReview: 'model-calls', match: { path: 'docs/**' } }] },
};

function setup(rules: PolicyRules): RunnerHarness {
  harness = new RunnerHarness(policy({ capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: [], rules }));
  mkdirSync(join(harness.workspace, 'docs'));
  return harness;
}

let seq = 0;
function writeDocs(h: RunnerHarness, via?: IntentOrigin) {
  const path = `docs/file-${++seq}.md`;
  const body = h.intent({ capability: 'write_file', params: { path, content: 'text\n', mode: 'create' }, ...(via ? { via } : {}) });
  return { body, file: join(h.workspace, path) };
}

describe('the signed via', () => {
  test('the agent checks the signature over via: a via changed in the signed bytes (vscode-lm → mcp:abcde, same length) is refused bad-signature and nothing runs', async () => {
    const h = setup(MODEL_WRITES_ASK);
    const { body, file } = writeDocs(h, 'vscode-lm');
    const envelope = h.seal(body);
    const payload = Buffer.from(envelope.payload);
    const at = payload.indexOf('vscode-lm');
    assert.ok(at > 0, 'via is in the signed bytes');
    payload.write('mcp:abcde', at);
    await h.expectRefused({ payload: new Uint8Array(payload), signature: envelope.signature }, body.id, 'bad-signature');
    // Stripped to look like a person's intent: the signature covers its absence too.
    const { via: _via, ...stripped } = body;
    const asPerson = h.seal(stripped);
    await h.expectRefused({ payload: asPerson.payload, signature: envelope.signature }, body.id, 'bad-signature');
    assert.equal(existsSync(file), false);
    assert.equal(h.approvalRequests().length, 0);
  });

  test('a via outside the alphabet, signed by the broker, is refused malformed (the agent decodes it with the same schema)', async () => {
    const h = setup(MODEL_WRITES_ASK);
    const { body, file } = writeDocs(h);
    for (const via of ['mcp:<script>', `mcp:${'a'.repeat(65)}`, 'x'.repeat(10_240)]) {
      const hostile = { ...body, id: `${body.id.slice(0, 30)}${(++seq % 100).toString().padStart(2, '0')}`, via };
      await h.expectRefused(seal(h.broker, 'vaultysclaw/intent/v1', hostile), hostile.id, 'malformed');
    }
    assert.equal(existsSync(file), false);
  });
});

describe('chosenBy "model" on the agent', () => {
  test('a rule with chosenBy "model" asks for a model-dispatched write; the same write dispatched by a person runs at once', async () => {
    const h = setup(MODEL_WRITES_ASK);
    const person = writeDocs(h);
    await h.expectSucceeded(h.seal(person.body), person.body.id);
    assert.equal(readFileSync(person.file, 'utf8'), 'text\n');
    assert.equal(h.approvalRequests().length, 0, 'no reviewer asked for a person');

    const model = writeDocs(h, 'vscode-lm');
    const result = dispatch(h, model.body);
    const request = await approvalRequest(h, model.body.id);
    assert.deepEqual([request.capability, request.reviewers, request.selfReview], ['write_file', 1, true]);
    assert.match(request.rule ?? '', /^write_file rule 1: ask docs\/\*\* \(model calls: self-review\) \(calls a model chose\)/);
    await settle();
    assert.equal(existsSync(model.file), false, 'nothing runs while waiting');
    h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
    const [done] = await result;
    assert.equal(done?.outcome, 'succeeded', `${done?.reason}: ${done?.message}`);
    assert.equal(readFileSync(model.file, 'utf8'), 'text\n');
  });

  test("selfReview: the requester approves their own model-dispatched write; on a person-dispatched one their approval is refused and another reviewer's runs it", async () => {
    const h = setup(ALL_WRITES_ASK);
    const model = writeDocs(h, 'mcp:Claude Code');
    const modelResult = dispatch(h, model.body);
    const asked = await approvalRequest(h, model.body.id);
    assert.equal(asked.selfReview, true);
    h.runner.onApprovalDecision(h.decision(asked, 'approve', h.user), h.session);
    const [byModel] = await modelResult;
    assert.equal(byModel?.outcome, 'succeeded', `${byModel?.reason}: ${byModel?.message}`);
    assert.deepEqual(refusedDecisions(h), []);

    const person = writeDocs(h);
    const personResult = dispatch(h, person.body);
    const held = await approvalRequest(h, person.body.id);
    assert.equal(held.selfReview, false, 'a person typed these params');
    h.runner.onApprovalDecision(h.decision(held, 'approve', h.user), h.session);
    await settle();
    assert.deepEqual(refusedDecisions(h), ['a user cannot approve a tool call of their own intent']);
    assert.equal(existsSync(person.file), false);
    h.runner.onApprovalDecision(h.decision(held, 'approve'), h.session);
    const [byPerson] = await personResult;
    assert.equal(byPerson?.outcome, 'succeeded');
  });
});
