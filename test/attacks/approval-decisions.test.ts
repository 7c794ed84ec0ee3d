/**
 * Tool approval (architecture.md), on a real broker and a real agent approved with
 * approvalRequired ['write_file']: a write pauses the agent until a reviewer's decision, signed by
 * the reviewer's own key and countersigned by the broker, reaches it. Every way around that is
 * refused with its exact JSON-RPC error, and the paused call neither runs nor is lost by the refusal.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IdType, seal, SecretIdentity } from '../../core/identity';
import { RpcErrorCode } from '../../core/rpc/methods';
import type { ApprovalView, IntentSummary } from '../../core/rpc/views';
import type { ApprovalRequestBody } from '../../core/wire/approval';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { RogueAgent, type HubSocket } from './support/rogue-agent';
import {
  approveAgent,
  assertAgentRefused,
  assertSucceeded,
  auditLines,
  call,
  connectAs,
  decisionParams,
  expectRpcError,
  finalIntent,
  joinAs,
  ownerOf,
  pendingApproval,
  type Member,
} from './support/team';

exitIfHeldOpen();
const started = new Started();

let broker: BrokerProcess;
let agent: AgentProcess;
let owner: Member;
let alice: Member; // operator, with a grant
let mallory: Member; // operator, with a grant, not a reviewer
let bob: Member; // reviewer
let carol: Member; // reviewer
let vera: Member; // viewer
const rogueSockets: HubSocket[] = [];

let seq = 0;
const writeParams = (label: string) => ({ path: `${label}-${++seq}.txt`, content: `${label}\n`, mode: 'create' as const });

/** `who` asks the agent to write a file; returns the intent (in flight) and its pending approval. */
async function pausedWrite(who: Member, label: string): Promise<{ intent: IntentSummary; approval: ApprovalView; path: string }> {
  const params = writeParams(label);
  const intent = await call(who, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params });
  assert.equal(intent.state, 'sent', `${intent.reason}: ${intent.message}`);
  const approval = await pendingApproval(owner, intent.id);
  assert.equal(approval.user, who.did);
  assert.equal(approval.agent, agent.did);
  assert.deepEqual(approval.params, params);
  return { intent, approval, path: join(agent.workspace, params.path) };
}

const stillPending = async (approval: ApprovalView) => {
  const view = await call(owner, 'approvalsGet', { requestId: approval.requestId });
  assert.equal(view.state, 'pending', 'a refused decision changes nothing');
  assert.equal(view.decidedBy, null);
  const intent = await call(owner, 'intentsGet', { id: approval.intentId });
  assert.ok(intent.state === 'sent' || intent.state === 'running', `the paused intent is ${intent.state}`);
};

const executions = (intentId: string) => agent.log.lines.filter((l) => l.event === 'intent.executing' && l.intentId === intentId).length;

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  alice = await joinAs(broker, owner, 'operator', 'alice');
  mallory = await joinAs(broker, owner, 'operator', 'mallory');
  bob = await joinAs(broker, owner, 'reviewer', 'bob');
  carol = await joinAs(broker, owner, 'reviewer', 'carol');
  vera = await joinAs(broker, owner, 'viewer', 'vera');
  for (const op of [alice, mallory]) await call(owner, 'grantsCreate', { user: op.did, agent: '*', capabilities: ['read_file', 'write_file'], validForMs: 60 * 60_000 });
  agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'read_file,list_files,write_file' });
  await approveAgent(owner, agent, { capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: ['write_file'] });
});

after(async () => {
  for (const s of rogueSockets) s.close();
  for (const m of [alice, mallory, bob, carol, vera]) m?.client.close();
  await started.cleanup();
});

describe('approval: who may decide', () => {
  test('nobody approves their own call: the owner deciding on their own intent gets -32003, a reviewer then approves it', async () => {
    const { intent, approval, path } = await pausedWrite(owner, 'owner-self');
    await expectRpcError(call(owner, 'approvalsDecide', decisionParams(owner.identity, approval, 'approve')), RpcErrorCode.Forbidden, /^nobody approves a tool call of their own intent$/);
    await stillPending(approval);
    assert.equal(existsSync(path), false, 'the paused write did not run');
    assert.ok(auditLines(broker.dataDir).some((l) => l.event === 'approval.self-refused' && l.did === owner.did && l.requestId === approval.requestId));
    // Control: the same request, decided by someone else, goes through.
    const decided = await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve', { reason: 'fine' }));
    assert.equal(decided.state, 'approved');
    assert.equal(decided.decidedBy, bob.did);
    assertSucceeded(await finalIntent(owner, intent.id));
    assert.equal(readFileSync(path, 'utf8'), 'owner-self\n');
  });

  test('an operator (not a reviewer) cannot decide, nor can a viewer, nor the requesting operator: -32003 from the role check', async () => {
    const { approval, path } = await pausedWrite(alice, 'not-reviewer');
    for (const who of [mallory, alice, vera]) {
      await expectRpcError(
        call(who, 'approvalsDecide', decisionParams(who.identity, approval, 'approve')),
        RpcErrorCode.Forbidden,
        new RegExp(`^role ${who.role} may not call vaultysclaw/approvals/decide$`),
        `${who.name} decides`,
      );
    }
    await stillPending(approval);
    assert.equal(existsSync(path), false);
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'reject', { reason: 'cleanup' }));
  });

  test("a decision signed with another key than the caller's: -32003", async () => {
    const { intent, approval, path } = await pausedWrite(alice, 'other-key');
    // Bob sends a decision Carol signed (and names Carol), and one that names Bob but Carol signed.
    await expectRpcError(call(bob, 'approvalsDecide', decisionParams(carol.identity, approval, 'approve')), RpcErrorCode.Forbidden, /^the decision must be signed by your own key/);
    await expectRpcError(
      call(bob, 'approvalsDecide', decisionParams(carol.identity, approval, 'approve', { reviewer: bob.did })),
      RpcErrorCode.Forbidden,
      /^the decision must be signed by your own key/,
    );
    // A key that is no user's at all.
    const stranger = SecretIdentity.generate(IdType.Person);
    await expectRpcError(call(bob, 'approvalsDecide', decisionParams(stranger, approval, 'approve', { reviewer: bob.did })), RpcErrorCode.Forbidden, /signed by your own key/);
    await stillPending(approval);
    assert.equal(existsSync(path), false);
    assert.ok(auditLines(broker.dataDir).some((l) => l.event === 'approval.decision-refused' && l.did === bob.did));
    // Control: the same decision signed by bob's own key.
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
    assertSucceeded(await finalIntent(owner, intent.id));
  });

  test('a decision naming another reviewer than the caller: -32003', async () => {
    const { intent, approval, path } = await pausedWrite(alice, 'other-reviewer');
    await expectRpcError(
      call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve', { reviewer: carol.did })),
      RpcErrorCode.Forbidden,
      /^the decision names another reviewer$/,
    );
    // Naming the requester as the reviewer does not launder a self-approval either.
    await expectRpcError(
      call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve', { reviewer: alice.did })),
      RpcErrorCode.Forbidden,
      /^the decision names another reviewer$/,
    );
    await stillPending(approval);
    assert.equal(existsSync(path), false);
    await call(carol, 'approvalsDecide', decisionParams(carol.identity, approval, 'approve'));
    const done = await finalIntent(owner, intent.id);
    assertSucceeded(done);
    assert.equal((await call(owner, 'approvalsGet', { requestId: approval.requestId })).decidedBy, carol.did);
  });
});

describe('approval: decisions reach the agent once', () => {
  test('a replayed decision (the same envelope twice): the second is -32009 Conflict and the tool ran once', async () => {
    const { intent, approval, path } = await pausedWrite(alice, 'replayed');
    const envelope = decisionParams(bob.identity, approval, 'approve', { reason: 'once' });
    assert.equal((await call(bob, 'approvalsDecide', envelope)).state, 'approved');
    await expectRpcError(call(bob, 'approvalsDecide', envelope), RpcErrorCode.Conflict, new RegExp(`approval request ${approval.requestId} is already approved`));
    // Replayed by another reviewer, with their own fresh signature, it is just as late.
    await expectRpcError(call(carol, 'approvalsDecide', decisionParams(carol.identity, approval, 'approve')), RpcErrorCode.Conflict, /already approved/);
    assertSucceeded(await finalIntent(owner, intent.id));
    assert.equal(readFileSync(path, 'utf8'), 'replayed\n');
    // Give a second delivery every chance to arrive, then count.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(executions(intent.id), 1, 'the agent ran the tool exactly once');
    assert.equal(agent.log.lines.filter((l) => l.event === 'approval.granted' && l.intentId === intent.id).length, 1);
    assert.equal(broker.log.lines.filter((l) => l.event === 'approval.decided' && l.requestId === approval.requestId).length, 1);
  });

  test("a rejection: the intent is rejected 'approval-rejected' with the reviewer's reason, and the file is not written", async () => {
    const { intent, approval, path } = await pausedWrite(alice, 'rejected');
    const decided = await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'reject', { reason: 'no writes on Fridays' }));
    assert.equal(decided.state, 'rejected');
    assert.equal(decided.reason, 'no writes on Fridays');
    assert.equal(decided.decidedBy, bob.did);
    const done = await finalIntent(owner, intent.id);
    assertAgentRefused(done, 'approval-rejected', new RegExp(`^rejected by ${bob.did}: no writes on Fridays$`));
    assert.equal(existsSync(path), false, 'a rejected write must not run');
    assert.equal(executions(intent.id), 0);
  });

  test("a rogue agent's approval request for another agent's intent: refused 'unknown-intent' (and 'impersonation' if it claims the other agent)", async () => {
    const { intent, approval } = await pausedWrite(alice, 'rogue-target');
    const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, {
      name: 'rogue',
      requested: ['read_file', 'list_files', 'write_file'],
      agentVersion: '0.0.0-rogue',
    });
    const { hub, status } = await bounded('rogue handshake', rogue.authenticate());
    rogueSockets.push(hub);
    assert.equal(status, 'pending');
    await call(owner, 'registrationsApprove', { did: rogue.did, policy: { capabilities: ['read_file', 'list_files', 'write_file'] } });
    // Renewed like an honest agent: on its pending certificate it may send nothing but a handshake.
    await hub.next('update_capabilities');
    await bounded('rogue renewal', rogue.authenticate(hub));

    const now = Date.now();
    const request = (agentDid: string): ApprovalRequestBody => ({
      requestId: randomBytes(16).toString('hex'),
      intentId: intent.id,
      agent: agentDid,
      user: alice.did,
      capability: 'write_file',
      params: intent.params,
      cwd: '/tmp',
      requestedAt: now,
      expiresAt: now + 60 * 60_000,
    });
    const forOther = request(rogue.did);
    hub.send({ type: 'approval/request', envelope: seal(rogue.identity, 'vaultysclaw/approval-request/v1', forOther) });
    const refused = await hub.next('error');
    assert.equal(refused.code, 'unknown-intent');
    assert.match(refused.message, new RegExp(`no intent ${intent.id} is in flight on this agent`));

    const impersonating = request(agent.did);
    hub.send({ type: 'approval/request', envelope: seal(rogue.identity, 'vaultysclaw/approval-request/v1', impersonating) });
    assert.equal((await hub.next('error')).code, 'impersonation');

    const all = (await call(owner, 'approvalsList', {})).items;
    assert.equal(all.find((a) => a.requestId === forOther.requestId || a.requestId === impersonating.requestId), undefined, 'nothing was stored');
    assert.deepEqual(
      all.filter((a) => a.intentId === intent.id).map((a) => a.requestId),
      [approval.requestId],
      'the genuine request is the only one for the intent',
    );
    assert.ok(broker.log.find('approval.refused', (l) => l.did === rogue.did && l.code === 'unknown-intent'));
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'reject', { reason: 'cleanup' }));
  });
});

describe('approval: persistence', () => {
  test('a pending approval survives a broker restart (approvalsList after restart)', async () => {
    const { intent, approval, path } = await pausedWrite(alice, 'restart');
    const port = Number(new URL(broker.url).port);
    await broker.stop();
    // Restarted first on a port the agent does not know: what the restart kept is read before the agent comes back and
    // ends its paused call (it raced the reads below when the broker came back on the agent's port at once).
    broker = await started.broker({ dataDir: broker.dataDir });
    owner = ownerOf(broker);

    const pending = (await call(owner, 'approvalsList', { state: 'pending' })).items;
    const kept = pending.find((a) => a.requestId === approval.requestId);
    assert.ok(kept, 'the pending approval is still listed after the restart');
    assert.deepEqual(kept, approval, 'with every field as it was');
    assert.deepEqual(await call(owner, 'approvalsGet', { requestId: approval.requestId }), approval);
    await broker.stop();
    broker = await started.broker({ dataDir: broker.dataDir, port });
    owner = ownerOf(broker);

    // The agent comes back to the restarted broker on the same port.
    await waitFor('the agent to reconnect', async () => (await call(owner, 'agentsGet', { did: agent.did })).online, 15_000, 100);
    // The paused call could not survive its connection: the agent refused it and the broker records that
    // signed refusal, kept by the agent across the reconnection.
    const ended = await finalIntent(owner, intent.id);
    assert.deepEqual([ended.state, ended.reason, ended.rejectedBy], ['rejected', 'approval-expired', 'agent']);
    assert.ok(ended.signedResult);
    assert.equal(existsSync(path), false, 'the paused write did not run');

    // Nothing waits for a decision any more: the request ended with its intent, and the broker refuses a decision.
    const cancelled = await call(owner, 'approvalsGet', { requestId: approval.requestId });
    assert.deepEqual([cancelled.state, cancelled.reason], ['expired', 'cancelled: its intent ended rejected']);
    bob.client.close();
    bob = { ...bob, client: await connectAs(broker, bob.identity, 'bob') };
    await expectRpcError(call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve')), RpcErrorCode.Conflict, /is already expired/);
    assert.equal(executions(intent.id), 0);
    assert.equal(existsSync(path), false, 'the write of a refused intent never runs');
    assert.equal((await call(owner, 'intentsGet', { id: intent.id })).state, 'rejected', 'a final state stays final');
  });
});
