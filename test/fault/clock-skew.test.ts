/**
 * Clock skew between broker and agent, beyond the allowance (30 s for intents,
 * 60 s for the handshake), with the agent's clock shifted through its
 * test-only VAULTYSCLAW_TEST_CLOCK_OFFSET_MS (faketime is not on these
 * machines; the offset is read from the agent's own environment, never from
 * the wire). No intent is silently lost: each ends in a final state whose
 * reason names the problem, in the client's view and in both logs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AgentProcess, BrokerProcess } from '../support/processes';
import { waitFor } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { finalIntent } from '../attacks/support/fleet';

exitIfHeldOpen();

describe('clock skew between broker and agent', () => {
  const started = new Started();
  let broker: BrokerProcess;
  before(async () => {
    broker = await started.broker();
  });
  after(() => started.cleanup());

  async function skewedAgent(offsetMs: number, name: string, stateDir?: string): Promise<AgentProcess> {
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, name, stateDir, env: { VAULTYSCLAW_TEST_CLOCK_OFFSET_MS: String(offsetMs) } });
    await waitFor(`${name} to wait for approval`, () => agent.log.find('auth.succeeded') ?? agent.log.find('auth.refused') ?? agent.log.find('hub.broker-error'), 15_000);
    return agent;
  }

  async function approve(agent: AgentProcess): Promise<void> {
    await broker.client.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['list_files'] } });
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
  }

  const dispatch = async (agent: AgentProcess) =>
    finalIntent(broker, (await broker.client.call('intentsDispatch', { agent: agent.did, capability: 'list_files', params: { path: '.' } })).id);

  test('within the allowance (agent 20 s behind): intents succeed', async () => {
    const agent = await skewedAgent(-20_000, 'slightly-behind');
    await approve(agent);
    assert.equal((await dispatch(agent)).state, 'succeeded');
  });

  test('agent 45 s behind: the handshake still passes, and every intent is refused by the agent as from-future, signed, reported to the client', async () => {
    const agent = await skewedAgent(-45_000, 'behind');
    await approve(agent);
    const view = await dispatch(agent);
    assert.deepEqual([view.state, view.reason, view.rejectedBy], ['rejected', 'from-future', 'agent']);
    assert.match(view.message ?? '', /issued in the future \(clock skew too large\)/);
    assert.ok(view.signedResult, 'the refusal is signed by the agent');
    assert.ok(agent.log.find('intent.rejected', (l) => l.intentId === view.id && l.reason === 'from-future'));
    assert.ok(broker.log.find('intent.result', (l) => l.intentId === view.id && l.reason === 'from-future'), 'audited by the broker');
    assert.equal(agent.log.find('intent.executing', (l) => l.intentId === view.id), undefined);
  });

  test("agent 45 s ahead: a call that needs a reviewer is refused by the broker's approval check, and the agent ends it at once with the broker's words, not after the approval timeout", async () => {
    const agent = await skewedAgent(45_000, 'ahead');
    await broker.client.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['list_files', 'write_file'], approvalRequired: ['write_file'] } });
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
    const sent = await broker.client.call('intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'ahead.txt', content: 'x', mode: 'create' } });
    // Well inside the default approval timeout (10 minutes): the agent no longer waits for a decision that cannot come.
    const view = await finalIntent(broker, sent.id, 20_000);
    assert.deepEqual([view.state, view.reason, view.rejectedBy], ['rejected', 'approval-required', 'agent']);
    assert.match(view.message ?? '', /the broker refused to open its approval request \(approval-timeout: /);
    assert.ok(broker.log.find('approval.refused', (l) => l.did === agent.did && l.code === 'approval-timeout'), 'the broker audited its refusal');
    assert.ok(agent.log.find('approval.request-refused', (l) => l.intentId === sent.id && l.code === 'approval-timeout'));
    assert.equal(agent.log.find('intent.executing', (l) => l.intentId === sent.id), undefined, 'the write never ran');
  });

  test('an approved agent whose clock drifts 10 minutes ahead: its handshake is refused as stale on both sides, and an intent for it is refused at once as agent-offline, never left pending', async () => {
    const punctual = await skewedAgent(0, 'drifting');
    await approve(punctual);
    assert.equal((await dispatch(punctual)).state, 'succeeded');
    await punctual.stop();
    await waitFor('the broker to see it offline', async () => !(await broker.client.call('agentsGet', { did: punctual.did })).online);

    const mark = broker.log.lines.length;
    const drifted = await skewedAgent(10 * 60_000, 'drifting', punctual.stateDir);
    const refused = await waitFor('the broker to refuse the handshake', () => broker.log.lines.slice(mark).find((l) => l.event === 'auth.refused' && l.code === 'stale'));
    assert.match(String(refused.detail), /outside the liveness window/);
    await drifted.log.waitFor('hub.broker-error', (l) => l.code === 'stale');
    assert.equal(drifted.log.find('auth.succeeded'), undefined);
    const view = await dispatch(drifted);
    assert.deepEqual([view.state, view.reason, view.rejectedBy, view.signedIntent], ['rejected', 'agent-offline', 'broker', null]);
  });
});
