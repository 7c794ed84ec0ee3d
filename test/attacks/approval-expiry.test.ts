/**
 * Tool approval timeout (architecture.md: "One timeout, shared by both sides; expiry = rejection"),
 * on a real broker started with `--approval-timeout 2` (carried in the agent's certificate) and a real
 * agent behind a man in the middle that can hold the decision frame.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RpcErrorCode } from '../../core/rpc/methods';
import type { ApprovalView, IntentSummary } from '../../core/rpc/views';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { MitmProxy } from './support/mitm-proxy';
import {
  approveAgent,
  assertAgentRefused,
  assertSucceeded,
  call,
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
const TIMEOUT_MS = 2000;

let broker: BrokerProcess;
let proxy: MitmProxy;
let agent: AgentProcess;
let owner: Member;
let alice: Member;
let bob: Member;
const intercept = { holdDecisions: false, held: [] as Uint8Array[] };

let seq = 0;
async function pausedWrite(label: string): Promise<{ intent: IntentSummary; approval: ApprovalView; path: string }> {
  const params = { path: `${label}-${++seq}.txt`, content: 'x', mode: 'create' as const };
  const intent = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params });
  assert.equal(intent.state, 'sent', `${intent.reason}: ${intent.message}`);
  return { intent, approval: await pendingApproval(owner, intent.id), path: join(agent.workspace, params.path) };
}

const executions = (intentId: string) => agent.log.lines.filter((l) => l.event === 'intent.executing' && l.intentId === intentId).length;

before(async () => {
  broker = await started.broker({ args: ['--approval-timeout', String(TIMEOUT_MS / 1000)] });
  owner = ownerOf(broker);
  alice = await joinAs(broker, owner, 'operator', 'alice');
  bob = await joinAs(broker, owner, 'reviewer', 'bob');
  await call(owner, 'grantsCreate', { user: alice.did, agent: '*', capabilities: ['write_file'], validForMs: 60 * 60_000 });
  proxy = await MitmProxy.start(broker.url);
  proxy.hook = (m) => {
    if (m.direction === 'toAgent' && m.frame?.type === 'approval/decision' && intercept.holdDecisions) {
      intercept.held.push(m.data);
      return null;
    }
    return undefined;
  };
  agent = await started.agent({ brokerUrl: proxy.url, brokerDid: broker.did, request: 'read_file,list_files,write_file' });
  await approveAgent(owner, agent, { capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: ['write_file'] });
});

after(async () => {
  alice?.client.close();
  bob?.client.close();
  await proxy?.close();
  await started.cleanup();
});

describe('approval: one timeout on both sides', () => {
  test('the broker option reaches the agent: its certificate carries the timeout, and a request expires that long after it was made', async () => {
    assert.equal((await call(owner, 'agentsGet', { did: agent.did })).policy?.approvalTimeoutMs, TIMEOUT_MS);
    const { intent, approval } = await pausedWrite('in-time');
    assert.equal(approval.expiresAt - approval.requestedAt, TIMEOUT_MS);
    // Control: decided in time, the call runs.
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
    assertSucceeded(await finalIntent(owner, intent.id));
  });

  test("no decision before the timeout: the agent rejects the intent 'approval-expired', the broker marks the request expired and refuses the late decision (-32009)", async () => {
    const { intent, approval, path } = await pausedWrite('expired');
    // Bob signs within the window but sends too late.
    const late = decisionParams(bob.identity, approval, 'approve');
    const done = await finalIntent(owner, intent.id, TIMEOUT_MS + 8000);
    assertAgentRefused(done, 'approval-expired', /no reviewer decided before the approval timeout/);
    assert.ok(done.updatedAt >= approval.expiresAt - 50, 'not before the deadline');
    await waitFor('the broker to expire the request', async () => (await call(owner, 'approvalsGet', { requestId: approval.requestId })).state === 'expired', 5000, 100);
    await expectRpcError(call(bob, 'approvalsDecide', late), RpcErrorCode.Conflict, new RegExp(`approval request ${approval.requestId} (is already expired|has expired)`));
    const view = await call(owner, 'approvalsGet', { requestId: approval.requestId });
    assert.equal(view.state, 'expired');
    assert.equal(view.decidedBy, null);
    assert.equal(existsSync(path), false);
    assert.equal(executions(intent.id), 0);
    assert.ok(broker.log.find('approval.expired', (l) => l.requestId === approval.requestId), 'the expiry is audited');
  });

  test('an approval the broker countersigned in time but that reaches the agent after the timeout does not run the tool', async () => {
    const { intent, approval, path } = await pausedWrite('held-decision');
    intercept.holdDecisions = true;
    try {
      assert.equal((await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'))).state, 'approved');
      await waitFor('the proxy to hold the decision', () => intercept.held[0]);
      assertAgentRefused(await finalIntent(owner, intent.id, TIMEOUT_MS + 8000), 'approval-expired');
    } finally {
      intercept.holdDecisions = false;
    }
    proxy.injectToAgent(intercept.held.shift()!);
    const refused = await agent.log.waitFor('approval.refused');
    assert.match(String(refused.detail), new RegExp(`no tool call is waiting for request ${approval.requestId}`));
    assert.equal(existsSync(path), false, 'a late approval never runs the call');
    assert.equal(executions(intent.id), 0);
  });
});
