// End to end on real broker and agent processes (issue 16): a two-person rule is counted by the agent from the
// decisions the broker relays one by one, and what only the agent host can see (a symlink to a denied file) is
// refused by the agent after the broker's lexical pre-check let the call through. Issue 18: a rule for the calls a model
// chose asks for an intent whose signed `via` says a model dispatched it, and lets its requester approve it.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Capability } from '../../core/wire/policy';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { assertAgentRefused, assertSucceeded, call, decisionParams, finalIntent, joinAs, ownerOf, pendingApproval, type Member } from '../attacks/support/team';
import type { AgentProcess, BrokerProcess } from '../support/processes';
import { waitFor } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();
const started = new Started();

const CAPABILITIES: Capability[] = ['read_file', 'list_files', 'write_file'];
const RULES: PolicyRules = {
  read_file: { default: 'allow', rules: [{ effect: 'deny', match: { path: '**/.env*' }, note: 'secrets' }] },
  write_file: {
    default: 'allow',
    rules: [
      { effect: 'ask', match: { path: 'release/**' }, reviewers: 2, note: 'two people sign a release' },
      { effect: 'ask', chosenBy: 'model', selfReview: 'model-calls', match: { path: 'docs/**' }, note: 'a model edits the docs' },
    ],
  },
};

let broker: BrokerProcess;
let agent: AgentProcess;
let owner: Member;
let alice: Member; // operator
let bob: Member; // reviewer
let carol: Member; // reviewer

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  alice = await joinAs(broker, owner, 'operator', 'alice');
  bob = await joinAs(broker, owner, 'reviewer', 'bob');
  carol = await joinAs(broker, owner, 'reviewer', 'carol');
  await call(owner, 'grantsCreate', { user: alice.did, agent: '*', capabilities: CAPABILITIES, validForMs: 60 * 60_000 });
  agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: CAPABILITIES.join(',') });
  await waitFor('the agent pending and online', async () => (await call(owner, 'registrationsList', {})).items.find((r) => r.did === agent.did && r.online));
  await call(owner, 'registrationsApprove', { did: agent.did, policy: { capabilities: CAPABILITIES, rules: RULES } });
  await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
  writeFileSync(join(agent.workspace, '.env'), 'TOKEN=do-not-leak\n');
  symlinkSync('.env', join(agent.workspace, 'cfg'));
  mkdirSync(join(agent.workspace, 'release'));
  mkdirSync(join(agent.workspace, 'docs'));
});

after(async () => {
  for (const m of [alice, bob, carol]) m?.client.close();
  await started.cleanup();
});

describe('rules enforced by a real agent', () => {
  test('Two-person rule: the agent runs the write only once two reviewers approved, each decision relayed as it came', async () => {
    const params = { path: 'release/notes.txt', content: 'v1\n', mode: 'create' as const };
    const sent = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    const approval = await pendingApproval(owner, sent.id);
    assert.equal(approval.reviewersRequired, 2);
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
    await agent.log.waitFor('approval.counted', (l) => l.requestId === approval.requestId && l.approvals === 1);
    assert.equal(existsSync(join(agent.workspace, params.path)), false, 'one approval ran it');
    await call(carol, 'approvalsDecide', decisionParams(carol.identity, approval, 'approve'));
    assertSucceeded(await finalIntent(owner, sent.id));
    assert.equal(readFileSync(join(agent.workspace, params.path), 'utf8'), 'v1\n');
  });

  test('A symlink to a denied file: the broker sees cfg and sends it; the agent sees .env and refuses rule-denied', async () => {
    const dry = await call(alice, 'policyTest', { agent: agent.did, capability: 'read_file', params: { path: 'cfg' } });
    assert.equal(dry.verdict, 'allowed');
    const sent = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'read_file', params: { path: 'cfg' } });
    assert.equal(sent.state, 'sent');
    const done = await finalIntent(owner, sent.id);
    assertAgentRefused(done, 'rule-denied', /\*\*\/\.env\*/);
    assert.doesNotMatch(JSON.stringify(done), /do-not-leak/);
  });

  test('A rule for the calls a model chose: a model-dispatched write under docs/ waits until its requester approves it; the same write by a person runs at once', async () => {
    // The owner dispatches here: an operator (alice) may not decide approvals at all, their own included.
    const byModel = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'docs/model.md', content: 'm\n', mode: 'create' }, via: 'vscode-lm' });
    assert.deepEqual([byModel.state, byModel.via], ['sent', 'vscode-lm'], `${byModel.reason}: ${byModel.message}`);
    const approval = await pendingApproval(owner, byModel.id);
    assert.deepEqual([approval.selfReview, approval.modelCall], [true, true]);
    assert.equal(existsSync(join(agent.workspace, 'docs', 'model.md')), false, 'it waits for a reviewer');
    await call(owner, 'approvalsDecide', decisionParams(owner.identity, approval, 'approve'));
    const done = await finalIntent(owner, byModel.id);
    assertSucceeded(done);
    assert.equal(done.via, 'vscode-lm');
    assert.equal(readFileSync(join(agent.workspace, 'docs', 'model.md'), 'utf8'), 'm\n');

    const byPerson = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'docs/person.md', content: 'p\n', mode: 'create' } });
    assertSucceeded(await finalIntent(owner, byPerson.id));
    assert.equal((await call(owner, 'approvalsList', { state: 'approved' })).items.filter((a) => a.intentId === byPerson.id).length, 0, 'no reviewer was asked');
    assert.equal(readFileSync(join(agent.workspace, 'docs', 'person.md'), 'utf8'), 'p\n');
  });
});
