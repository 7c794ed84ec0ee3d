/**
 * The lost-agent grace period, with an in-process agent whose connection the
 * test controls: an agent that comes back in time gets its unanswered intent
 * again (the same signed bytes) and its answer is the one final state; one
 * that stays away longer ends the intent lost-agent, and its signed result,
 * when it finally comes, is kept and shown without changing that state.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bytesEqual, IdType, SecretIdentity } from '../../core/identity';
import { finalIntent } from '../attacks/support/fleet';
import { RogueAgent } from '../attacks/support/rogue-agent';
import type { BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

const GRACE_S = 1.5;

describe('lost-agent only after a grace period', () => {
  const started = new Started();
  let broker: BrokerProcess;
  let agent: RogueAgent;
  before(async () => {
    broker = await started.broker({ args: ['--lost-agent-grace', String(GRACE_S)] });
    agent = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'flaky', requested: ['list_files'], agentVersion: '0' });
    const { hub } = await agent.authenticate();
    await broker.client.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['list_files'] } });
    await hub.next('update_capabilities');
    await agent.authenticate(hub);
    hub.close();
  });
  after(() => started.cleanup());

  async function intentOnNewConnection() {
    const { hub, handshake } = await agent.authenticate();
    const sent = await broker.client.call('intentsDispatch', { agent: agent.did, capability: 'list_files', params: { path: '.' } });
    const frame = await hub.next('intent');
    return { hub, sent, envelope: frame.envelope, broker: handshake.certificate.responder };
  }

  test('back within the grace period: the same signed intent is resent on the new connection, and the agent\'s answer is its final state', async () => {
    const first = await intentOnNewConnection();
    first.hub.close();
    await new Promise((r) => setTimeout(r, 300));
    const { hub } = await agent.authenticate();
    const resent = await hub.next('intent');
    assert.ok(bytesEqual(resent.envelope.payload, first.envelope.payload) && bytesEqual(resent.envelope.signature, first.envelope.signature), 'the very same signed intent');
    hub.send({ type: 'result', envelope: agent.result({ intentId: first.sent.id, outcome: 'succeeded', reason: null, message: 'done', output: { entries: [] } }) });
    assert.equal((await hub.next('result/ack')).intentId, first.sent.id);
    const view = await finalIntent(broker, first.sent.id);
    assert.equal(view.state, 'succeeded');
    await new Promise((r) => setTimeout(r, GRACE_S * 1000 + 500));
    assert.equal((await broker.client.call('intentsGet', { id: first.sent.id })).state, 'succeeded', 'the grace timer did not touch it');
    hub.close();
  });

  test('away longer: the intent ends lost-agent; the signed result that comes later is kept, audited and shown, and the state stays lost-agent', async () => {
    const { hub, sent } = await intentOnNewConnection();
    hub.close();
    const lost = await finalIntent(broker, sent.id, GRACE_S * 1000 + 5000);
    assert.equal(lost.state, 'lost-agent');
    assert.equal(lost.signedResult, null);
    assert.match(lost.message ?? '', /did not come back within 1.5 s/);

    const back = await agent.authenticate();
    back.hub.send({ type: 'result', envelope: agent.result({ intentId: sent.id, outcome: 'succeeded', reason: null, message: 'late but done', output: { entries: ['x'] } }) });
    assert.equal((await back.hub.next('result/ack')).intentId, sent.id, 'acknowledged, so the agent forgets it');
    await broker.log.waitFor('intent.late-result', (l) => l.intentId === sent.id);
    const view = await broker.client.call('intentsGet', { id: sent.id });
    assert.deepEqual([view.state, view.outcome, view.message, view.output], ['lost-agent', 'succeeded', 'late but done', { entries: ['x'] }]);
    assert.ok(view.signedResult, 'the signed result is kept');

    // A second copy changes nothing.
    back.hub.send({ type: 'result', envelope: agent.result({ intentId: sent.id, outcome: 'failed', reason: null, message: 'again', output: null }) });
    await back.hub.next('result/ack');
    assert.deepEqual(await broker.client.call('intentsGet', { id: sent.id }), view);
    back.hub.close();
  });
});
