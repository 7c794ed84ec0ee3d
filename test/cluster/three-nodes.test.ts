// Issue 20's cluster tests on three real broker processes sharing one PostgreSQL database and one nats-server: a
// user on one node reaches an agent connected to another, a reviewer on a third decides a call an agent paused on
// the first, and what is revoked on one node reaches agents on the others. Each would fail on brokers that do not
// talk: the intent would end lost-agent, the decision never reach the agent, the list stay old on the agents.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { BUDGETS } from '../../core/budgets';
import { IdType, open, seal, SecretIdentity, VaultysId } from '../../core/identity';
import { ApprovalDecisionBody, type ApprovalRequestBody } from '../../core/wire/approval';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { bounded } from '../attacks/support/fleet';
import { RogueAgent } from '../attacks/support/rogue-agent';
import { Notifications } from '../../core/rpc/methods';
import type { ProgressBody } from '../../core/wire/intent';
import { encodeFrame } from '../../core/wire/frame-codec';
import { startCluster, type Cluster } from '../support/cluster';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import {
  approveAgent,
  assertBrokerRefused,
  assertSucceeded,
  auditLines,
  call,
  connectAs,
  decisionParams,
  finalIntent,
  heldListVersion,
  joinAs,
  ownerOf,
  pendingApproval,
  type Member,
} from '../attacks/support/team';

exitIfHeldOpen();

describe('three broker nodes on one PostgreSQL and one NATS', () => {
  const started = new Started();
  let cluster: Cluster;
  let a: BrokerProcess;
  let b: BrokerProcess;
  let c: BrokerProcess;
  let ownerA: Member;
  /** An agent connected to node A, one to node C. */
  let onA: AgentProcess;
  let onC: AgentProcess;
  /** The bus messages of one kind a node did not believe, from its audit log. */
  const refusedOn = (node: BrokerProcess, what: string) => auditLines(node.dataDir).filter((l) => l.event === 'cluster.message-refused' && l.what === what).length;
  /** The same owner (the host operator every node shares), on node B's socket. */
  const ownerB = (): Member => ({ ...ownerA, client: b.client });

  before(async () => {
    cluster = await startCluster(started, { nodes: 3 });
    [a, b, c] = cluster.nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    assert.equal(a.did, c.did, 'every node signs as the one broker id');
    ownerA = ownerOf(a);
    onA = await started.agent({ brokerUrl: a.url, brokerDid: a.did, name: 'on-a' });
    onC = await started.agent({ brokerUrl: c.url, brokerDid: c.did, name: 'on-c' });
    // Approved from node B: the agents, connected to A and C, renew their certificates there.
    await approveAgent(ownerB(), onA, { capabilities: ['read_file', 'list_files', 'write_file', 'run_command'], approvalRequired: ['write_file'] });
    await approveAgent(ownerB(), onC, { capabilities: ['read_file', 'list_files', 'write_file', 'run_command'] });
  });
  after(async () => {
    await started.cleanup();
    await cluster?.stop();
  });

  test('a user on node A dispatches to an agent on node C: it runs there once, and A streams its progress and its end to the user', async () => {
    const progress: string[] = [];
    const changed: string[] = [];
    const offProgress = a.client.listen(Notifications.intentProgress.method, (p) => progress.push((p as { text: string }).text));
    const offChanged = a.client.listen(Notifications.intentChanged.method, (p) => changed.push((p as { intent: { state: string } }).intent.state));
    try {
      const sent = await call(ownerA, 'intentsDispatch', { agent: onC.did, capability: 'run_command', params: { command: 'sh', args: ['-c', 'echo first; sleep 1; echo second'], cwd: '.', timeoutMs: 30_000 } });
      assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
      const view = await finalIntent(ownerA, sent.id, 20_000);
      assertSucceeded(view);
      await waitFor("the agent's progress on A's session", () => progress.join('').includes('second'), 10_000);
      await waitFor("the intent's end on A's session", () => changed.includes('succeeded'), 10_000);
      assert.equal(onC.log.lines.filter((l) => l.event === 'intent.executing' && l.intentId === sent.id).length, 1, 'run once, by the agent on C');
      assert.equal(onA.log.lines.filter((l) => l.intentId === sent.id).length, 0, 'the agent on A never saw it');
    } finally {
      offProgress.dispose();
      offChanged.dispose();
    }
  });

  test("the bus is not believed: progress forged in the agent's name by whoever can publish on NATS reaches no client, and its refusals are audited within BUDGETS.clusterRefusalAuditLines", async () => {
    const heard: string[] = [];
    const off = a.client.listen(Notifications.intentProgress.method, (p) => heard.push((p as { text: string }).text));
    const publisher = await connect({ servers: cluster.nats.url });
    try {
      const intent = await call(ownerA, 'intentsDispatch', { agent: onC.did, capability: 'list_files', params: { path: '.' } });
      const forger = SecretIdentity.generate(IdType.Machine);
      const limit = BUDGETS.clusterRefusalAuditLines.limit;
      for (let seq = 0; seq < limit + 5; seq++) {
        const body: ProgressBody = { intentId: intent.id, agent: onC.did, seq, stream: 'stdout', text: `forged ${seq}\n`, at: Date.now() };
        publisher.publish('vaultysclaw.vaultysclaw.broadcast', encodeFrame({ kind: 'intentProgress', envelope: seal(forger, 'vaultysclaw/progress/v1', body) }));
      }
      await publisher.flush();
      await waitFor('node A to refuse every forged progress it may write', () => refusedOn(a, 'progress') === limit, 10_000);
      // A message after them: once it is heard, everything before it on the bus was handled.
      assertSucceeded(await finalIntent(ownerA, intent.id, 20_000));
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(refusedOn(a, 'progress'), limit, `at most BUDGETS.clusterRefusalAuditLines (${limit}) in full per interval; the rest are counted into a summary`);
      assert.deepEqual(heard.filter((t) => t.startsWith('forged')), [], "no client heard what the agent's key did not sign");
    } finally {
      off.dispose();
      await publisher.close();
    }
  });

  test('a reviewer on node B approves a call paused by the agent on node A; the write happens once', async () => {
    const bob = await joinAs(a, ownerA, 'reviewer', 'bob');
    const bobOnB: Member = { ...bob, client: await connectAs(b, bob.identity, 'bob') };
    const sent = await call(ownerA, 'intentsDispatch', { agent: onA.did, capability: 'write_file', params: { path: 'reviewed.txt', content: 'approved on B\n', mode: 'create' } });
    const approval = await pendingApproval(bobOnB, sent.id, 15_000);
    await call(bobOnB, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
    assertSucceeded(await finalIntent(ownerA, sent.id, 20_000));
    assert.equal(readFileSync(join(onA.workspace, 'reviewed.txt'), 'utf8'), 'approved on B\n');
    bobOnB.client.close();
  });

  test("self-review across nodes: the requester of a task approves its model's call on node A, the agent being on node C, as its certified rules allow", async () => {
    // An in-process agent on C whose rules let the requester review what a task's model writes to notes.md.
    const rules: PolicyRules = { write_file: { rules: [{ effect: 'ask', match: { path: 'notes.md' }, selfReview: 'model-calls' }] } };
    const agent = new RogueAgent(SecretIdentity.generate(IdType.Machine), c.url, c.did, { name: 'self-review', requested: ['write_file', 'llm_task'], agentVersion: '0.4.0' });
    const { hub } = await bounded('agent handshake', agent.authenticate());
    try {
      await call(ownerB(), 'registrationsApprove', { did: agent.did, policy: { capabilities: ['write_file', 'llm_task'], approvalRequired: ['write_file'], rules } });
      await hub.next('update_capabilities');
      const { handshake } = await bounded('agent renewal', agent.authenticate(hub));
      const adele = await joinAs(a, ownerA, 'admin', 'adele');
      const sent = await call(adele, 'intentsDispatch', { agent: agent.did, capability: 'llm_task', params: { instruction: 'update the notes', tools: ['write_file'] } });
      assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
      const body = agent.openIntent((await hub.next('intent')).envelope, handshake.certificate.responder);
      const requestedAt = Date.now();
      const request: ApprovalRequestBody = {
        requestId: 'c1'.repeat(16),
        intentId: body.id,
        agent: agent.did,
        user: body.user,
        capability: 'write_file',
        params: { path: 'notes.md', content: 'by the model', mode: 'overwrite' },
        cwd: '/workspace',
        requestedAt,
        expiresAt: requestedAt + handshake.policy.approvalTimeoutMs,
        selfReview: true,
      };
      hub.send({ type: 'approval/request', envelope: seal(agent.identity, 'vaultysclaw/approval-request/v1', request) });
      const approval = await pendingApproval(adele, sent.id, 15_000);
      assert.deepEqual([approval.modelCall, approval.selfReview], [true, true]);
      const decided = await call(adele, 'approvalsDecide', decisionParams(adele.identity, approval, 'approve'));
      assert.equal(decided.state, 'approved', "node A read the agent's rules from the stored policy its certificate follows");
      const { bundle } = await hub.next('approval/decision');
      const decision = open(VaultysId.fromBytes(bundle.reviewerId), 'vaultysclaw/approval-decision/v1', bundle.decision);
      assert.ok(decision.ok);
      assert.deepEqual([ApprovalDecisionBody.parse(decision.body).reviewer, ApprovalDecisionBody.parse(decision.body).requestId], [adele.did, request.requestId], 'delivered to the agent through node C');
      adele.client.close();
    } finally {
      hub.close();
    }
  });

  test('a grant revoked on node B: the agents on A and C hold the new list at once, and the next intent is refused', async () => {
    const alice = await joinAs(a, ownerA, 'operator', 'alice');
    const grant = await call(ownerA, 'grantsCreate', { user: alice.did, agent: '*', capabilities: ['read_file'], validForMs: 3_600_000 });
    writeFileSync(join(onC.workspace, 'note.txt'), 'granted\n');
    const read = await call(alice, 'intentsDispatch', { agent: onC.did, capability: 'read_file', params: { path: 'note.txt' } });
    assertSucceeded(await finalIntent(ownerA, read.id, 20_000));
    const held = { onA: heldListVersion(onA.log), onC: heldListVersion(onC.log) };
    assert.equal((await call(ownerB(), 'grantsRevoke', { id: grant.id })).revoked, true);
    await waitFor('the agent on A to hold the new list', () => heldListVersion(onA.log) > held.onA, 10_000);
    await waitFor('the agent on C to hold the new list', () => heldListVersion(onC.log) > held.onC, 10_000);
    const after = await call(alice, 'intentsDispatch', { agent: onC.did, capability: 'read_file', params: { path: 'note.txt' } });
    assertBrokerRefused(await finalIntent(ownerA, after.id), 'delegation-missing');
  });

  test('an agent revoked on node B is cut off on node C, where it is connected', async () => {
    await call(ownerB(), 'agentsRevoke', { did: onC.did, reason: 'cluster test' });
    await onC.log.waitFor('agent.revoked');
    const view = await waitFor('node A to show it revoked and offline', async () => {
      const v = await call(ownerA, 'agentsGet', { did: onC.did });
      return v.status === 'revoked' && !v.online ? v : undefined;
    }, 10_000);
    assert.equal(view.status, 'revoked');
  });
});
