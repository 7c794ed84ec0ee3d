// Issue 20: a role certificate one node signed stays revoked on every list any node signs. Node A signs an admin's
// certificate for a task on an agent connected to node C; the admin is demoted on node B; a grant is revoked on C
// afterwards. Lists built from each node's own memory named A's certificate only on the lists A signed: the agent
// on C took C's newer list, and the task of the former admin wrote what a reviewer approved after the demotion.
// Three real broker processes on one PostgreSQL and one nats-server; the model is a scripted server on 127.0.0.1.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startCluster, type Cluster } from '../support/cluster';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { answers, callsTools, ScriptedModel } from '../support/scripted-model';
import { exitIfHeldOpen, Started } from '../support/started';
import { approveAgent, call, decisionParams, heldListDelegations, finalIntent, heldListVersion, joinAs, ownerOf, pendingApproval, type Member } from '../attacks/support/team';

exitIfHeldOpen();

describe('role certificates revoked on one node stay revoked on the lists every node signs', () => {
  const started = new Started();
  let cluster: Cluster;
  let a: BrokerProcess;
  let b: BrokerProcess;
  let c: BrokerProcess;
  let model: ScriptedModel;
  let onC: AgentProcess;
  let ownerA: Member;
  /** The same owner (the host operator every node shares), on another node's socket. */
  const ownerOn = (node: BrokerProcess): Member => ({ ...ownerA, client: node.client });

  before(async () => {
    model = await ScriptedModel.start();
    cluster = await startCluster(started, { nodes: 3 });
    [a, b, c] = cluster.nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    ownerA = ownerOf(a);
    onC = await started.agent({
      brokerUrl: c.url,
      brokerDid: c.did,
      name: 'on-c',
      request: 'llm_task,read_file,write_file',
      args: ['--model-url', model.url, '--model', 'scripted-model', '--model-key-env', 'VC_TEST_MODEL_KEY'],
      env: { VC_TEST_MODEL_KEY: 'sk-vc-test-cluster-roles' },
    });
    writeFileSync(join(onC.workspace, 'note.txt'), 'granted\n');
    await approveAgent(ownerA, onC, { capabilities: ['llm_task', 'read_file', 'write_file'], approvalRequired: ['write_file'], maxTokensPerDay: 1_000_000, maxRequestsPerHour: 100 });
  });
  after(async () => {
    await started.cleanup();
    await cluster?.stop();
    await model?.close();
  });

  test("an admin's certificate signed by A, the admin demoted on B, a grant revoked on C: the agent on C refuses the task's next step", async () => {
    const carol = await joinAs(a, ownerA, 'admin', 'carol');
    const bob = await joinAs(a, ownerA, 'reviewer', 'bob');
    const alice = await joinAs(a, ownerA, 'operator', 'alice');
    const grant = await call(ownerA, 'grantsCreate', { user: alice.did, agent: '*', capabilities: ['read_file'], validForMs: 3_600_000 });
    try {
      const args = { path: 'after-demotion.txt', content: 'written by a former admin\n', mode: 'create' };
      model.play([callsTools([{ name: 'write_file', args }], 40), answers('done', 5)]);
      // Through node A: A signs carol's role certificate; the agent, on C, pauses the write on a reviewer.
      const sent = await call(carol, 'intentsDispatch', { agent: onC.did, capability: 'llm_task', params: { instruction: 'write a file' } });
      assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
      const approval = await pendingApproval(bob, sent.id, 20_000);

      const beforeDemotion = heldListVersion(onC.log);
      await call(ownerOn(b), 'usersSetRole', { did: carol.did, role: 'viewer' });
      await waitFor('the agent on C to hold a list newer than the demotion', () => heldListVersion(onC.log) > beforeDemotion, 15_000);
      // A later list, signed by C: it must still name A's certificate.
      const beforeGrant = heldListVersion(onC.log);
      assert.equal((await call(ownerOn(c), 'grantsRevoke', { id: grant.id })).revoked, true);
      await waitFor('the agent on C to hold the list C signed', () => heldListVersion(onC.log) > beforeGrant, 15_000);
      assert.equal(heldListDelegations(onC.log), 2, "the list the agent holds names the revoked grant and A's revoked role certificate");

      await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
      const done = await finalIntent(ownerA, sent.id, 20_000);
      assert.equal(done.reason, 'delegation-revoked', `${done.state} ${done.reason}: ${done.message}`);
      assert.equal(existsSync(join(onC.workspace, 'after-demotion.txt')), false, 'the approved write of a former admin never ran');
    } finally {
      for (const m of [carol, bob, alice]) m.client.close();
    }
  });
});
