/**
 * Seed threats "Agent impersonation" and "Compromised agent" on the result
 * path: two approved rogue agents with real handshakes against the real
 * broker. The broker attributes every message to the key its connection
 * proved; ids a message declares about itself must match.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { IdType, seal, SecretIdentity, type VaultysId } from '../../core/identity';
import type { IntentBody } from '../../core/wire/intent';
import { waitFor } from '../support/processes';
import { Fleet } from './support/fleet';
import { HubSocket, RogueAgent } from './support/rogue-agent';

let fleet: Fleet;
let a: RogueAgent;
let b: RogueAgent;
let hubA: HubSocket;
let hubB: HubSocket;
let brokerId: VaultysId;
let intent: IntentBody;

async function approvedRogue(name: string): Promise<{ rogue: RogueAgent; hub: HubSocket }> {
  const { rogue, hub, handshake } = await fleet.approvedRogue(name);
  brokerId = handshake.certificate.responder;
  return { rogue, hub };
}

async function stateOf(id: string) {
  return fleet.call('intentsGet', { id });
}

/** The broker's audited refusal of a message on the result path. */
function refusalLogged(mark: number, reason: string) {
  return waitFor(`broker result.refused ${reason}`, () =>
    fleet.broker.log.lines.slice(mark).find((l) => l.event === 'result.refused' && (l.code === reason || l.reason === reason)),
  );
}

before(async () => {
  fleet = await Fleet.start();
  ({ rogue: a, hub: hubA } = await approvedRogue('rogue-a'));
  ({ rogue: b, hub: hubB } = await approvedRogue('rogue-b'));
  const sent = await fleet.call('intentsDispatch', { agent: a.did, capability: 'list_files', params: { path: '.' } });
  assert.equal(sent.state, 'sent');
  intent = a.openIntent((await hubA.next('intent')).envelope, brokerId);
  assert.equal(intent.id, sent.id);
  assert.equal(intent.agent, a.did);
});
after(async () => {
  hubA?.close();
  hubB?.close();
  await fleet?.stop();
});

describe('result path: forged results and messages claiming another agent', () => {
  test('Compromised agent: B answers A\'s intent with a result signed by B for B → unknown-intent; A\'s intent stays in flight', async () => {
    const mark = fleet.broker.log.lines.length;
    hubB.send({ type: 'result', envelope: b.result({ intentId: intent.id, outcome: 'succeeded', reason: null, message: 'forged', output: { entries: [] } }) });
    const error = await hubB.next('error');
    assert.equal(error.code, 'unknown-intent');
    await refusalLogged(mark, 'unknown-intent');
    const view = await stateOf(intent.id);
    assert.equal(view.state, 'sent');
    assert.equal(view.signedResult, null);
    assert.equal(hubB.closed, undefined);
    await fleet.assertHealthy();
  });

  test('Agent impersonation: B sends a result whose agent field is A\'s DID (signed by B) → impersonation, B is disconnected', async () => {
    const mark = fleet.broker.log.lines.length;
    hubB.send({ type: 'result', envelope: b.result({ agent: a.did, intentId: intent.id, outcome: 'succeeded', reason: null, message: 'forged', output: { entries: [] } }) });
    const error = await hubB.next('error');
    assert.equal(error.code, 'impersonation');
    assert.deepEqual(await hubB.waitClosed(), { code: 4001, reason: 'impersonation' });
    const line = await refusalLogged(mark, 'impersonation');
    assert.equal(line.did, b.did);
    assert.equal(line.claimed, a.did);
    assert.equal((await stateOf(intent.id)).state, 'sent');
    await fleet.assertHealthy();
  });

  test('Agent impersonation: progress claiming A\'s DID (signed by B) → impersonation, and A\'s intent is not marked running', async () => {
    const { hub } = await b.authenticate();
    const mark = fleet.broker.log.lines.length;
    const progress = { intentId: intent.id, agent: a.did, seq: 0, stream: 'status', text: 'forged', at: Date.now() };
    hub.send({ type: 'progress', envelope: seal(b.identity, 'vaultysclaw/progress/v1', progress) });
    assert.equal((await hub.next('error')).code, 'impersonation');
    assert.deepEqual(await hub.waitClosed(), { code: 4001, reason: 'impersonation' });
    await refusalLogged(mark, 'impersonation');
    assert.equal((await stateOf(intent.id)).state, 'sent');
    await fleet.assertHealthy();
  });

  test('Agent impersonation: a result for A\'s intent signed with a random key → bad-signature, connection closed', async () => {
    const { hub } = await b.authenticate();
    const mark = fleet.broker.log.lines.length;
    const stranger = SecretIdentity.generate(IdType.Machine);
    hub.send({ type: 'result', envelope: b.result({ agent: a.did, intentId: intent.id, outcome: 'succeeded', reason: null, message: 'forged', output: null }, stranger) });
    assert.equal((await hub.next('error')).code, 'bad-signature');
    assert.deepEqual(await hub.waitClosed(), { code: 4001, reason: 'bad-signature' });
    await refusalLogged(mark, 'bad-signature');
    assert.equal((await stateOf(intent.id)).state, 'sent');
    await fleet.assertHealthy();
  });

  test('After the forgeries, A\'s genuine signed result is accepted and the intent succeeds with A\'s output', async () => {
    assert.equal(hubA.closed, undefined, 'A was never disconnected by B\'s attacks');
    hubA.send({ type: 'result', envelope: a.result({ intentId: intent.id, outcome: 'succeeded', reason: null, message: 'done', output: { entries: ['genuine'] } }) });
    assert.equal((await hubA.next('result/ack')).intentId, intent.id);
    const view = await stateOf(intent.id);
    assert.equal(view.state, 'succeeded');
    assert.deepEqual(view.output, { entries: ['genuine'] });
    assert.notEqual(view.signedResult, null);
    await fleet.assertHealthy();
  });
});
