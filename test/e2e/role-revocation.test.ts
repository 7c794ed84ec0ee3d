// Issue 19 finding 6: a demoted admin's running llm_task kept writing (its role certificate lives for the task
// plus 5 minutes, and a demotion published no revocation), while a revoked operator grant stops at the next
// step. Real broker and agent processes; the model is a scripted OpenAI-compatible server on 127.0.0.1; the
// task pauses on a reviewer, the admin is demoted meanwhile, and the reviewer's approval comes after.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { approveAgent, call, decisionParams, finalIntent, joinAs, ownerOf, pendingApproval, type Member } from '../attacks/support/team';
import type { AgentProcess, BrokerProcess } from '../support/processes';
import { answers, callsTools, ScriptedModel } from '../support/scripted-model';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

describe('a role change revokes what the role earned (issue 19 #6)', () => {
  const started = new Started();
  let broker: BrokerProcess;
  let model: ScriptedModel;
  let agent: AgentProcess;
  let owner: Member;
  let carol: Member; // admin, demoted mid-task
  let bob: Member; // reviewer

  before(async () => {
    model = await ScriptedModel.start();
    broker = await started.broker();
    owner = ownerOf(broker);
    carol = await joinAs(broker, owner, 'admin', 'carol');
    bob = await joinAs(broker, owner, 'reviewer', 'bob');
    agent = await started.agent({
      brokerUrl: broker.url,
      brokerDid: broker.did,
      request: 'llm_task,read_file,write_file',
      args: ['--model-url', model.url, '--model', 'scripted-model', '--model-key-env', 'VC_TEST_MODEL_KEY'],
      env: { VC_TEST_MODEL_KEY: 'sk-vc-test-role-revocation' },
    });
    writeFileSync(join(agent.workspace, 'hello.txt'), 'hello\n');
    await approveAgent(owner, agent, { capabilities: ['llm_task', 'read_file', 'write_file'], approvalRequired: ['write_file'], maxTokensPerDay: 1_000_000, maxRequestsPerHour: 100 });
  });

  after(async () => {
    for (const m of [carol, bob]) m?.client.close();
    await started.cleanup();
    await model?.close();
  });

  test("a demoted admin's running llm_task stops at its next step: the demotion publishes a revocation the agent applies", async () => {
    const args = { path: 'after-demotion.txt', content: 'written by a former admin\n', mode: 'create' };
    model.play([callsTools([{ name: 'write_file', args }], 40), callsTools([{ name: 'write_file', args: { ...args, path: 'again.txt' } }], 40), answers('done', 5)]);
    const sent = await call(carol, 'intentsDispatch', { agent: agent.did, capability: 'llm_task', params: { instruction: 'write two files' } });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    const approval = await pendingApproval(bob, sent.id, 15_000);

    const mark = agent.log.lines.length;
    await call(owner, 'usersSetRole', { did: carol.did, role: 'viewer' });
    await agent.log.waitFor('revocations.updated', (l) => agent.log.lines.indexOf(l) >= mark, 15_000);

    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
    const done = await finalIntent(owner, sent.id, 20_000);
    assert.notEqual(done.state, 'succeeded');
    assert.equal(done.reason, 'delegation-revoked', `${done.state} ${done.reason}: ${done.message}`);
    assert.equal(existsSync(join(agent.workspace, 'after-demotion.txt')), false, 'the approved write of a former admin never ran');
    assert.equal(existsSync(join(agent.workspace, 'again.txt')), false);
    assert.ok(broker.log.find('delegation.role-revoked', (l) => l.did === carol.did), 'the broker audited the revocation');
  });
});
