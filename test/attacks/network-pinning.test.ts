/**
 * Seed threat "Agent impersonation" seen from the agent (and upstream-gaps 3):
 * an agent pinned to broker X must refuse broker Y, which proves another key.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { removeDirs, startAgent, startBroker, waitFor, type BrokerProcess } from '../support/processes';
import { assertAlive, bounded, Fleet } from './support/fleet';

let fleetY: Fleet;
let brokerX: BrokerProcess;

before(async () => {
  [fleetY, brokerX] = await Promise.all([Fleet.start(), startBroker()]);
});
after(async () => {
  await fleetY?.stop();
  await brokerX?.stop().catch(() => brokerX.kill());
  if (brokerX) removeDirs(brokerX.dataDir);
});

test('Forged broker key: an agent pinned to broker X that reaches broker Y refuses it (auth.refused, peer-refused); Y never authenticates nor registers it', async () => {
  const brokerY = fleetY.broker;
  const agent = fleetY.track(await startAgent({ brokerUrl: brokerY.url, brokerDid: brokerX.did, name: 'pinned-to-x' }));
  // Refused on the first attempt and again after reconnecting.
  await waitFor('two refusals', () => agent.log.lines.filter((l) => l.event === 'auth.refused').length >= 2 || undefined, 10_000);
  const refusal = agent.log.find('auth.refused')!;
  assert.equal(refusal.reason, 'peer-refused');
  assert.match(String(refusal.detail), new RegExp(`broker proved ${brokerY.did}, but this agent is pinned to ${brokerX.did}`));
  assert.equal(agent.log.find('auth.succeeded'), undefined);
  assert.equal(agent.log.find('pin.tofu'), undefined);

  assert.equal(brokerY.log.find('auth.succeeded', (l) => l.did === agent.did), undefined, 'Y must not record the agent as authenticated');
  assert.equal(brokerY.log.find('registration.pending', (l) => l.did === agent.did), undefined);
  assert.equal((await bounded('registrationsList', brokerY.client.call('registrationsList', {}))).items.some((a) => a.did === agent.did), false);
  assert.equal((await bounded('agentsList', brokerY.client.call('agentsList', {}))).items.some((a) => a.did === agent.did), false);
  await agent.stop();
  assertAlive(brokerY);
  await fleetY.assertHealthy();

  // Control: the same agent, same state directory, reaches the broker it is pinned to.
  const again = fleetY.track(await startAgent({ brokerUrl: brokerX.url, brokerDid: brokerX.did, stateDir: agent.stateDir, workspace: agent.workspace, name: 'pinned-to-x' }));
  await again.log.waitFor('auth.succeeded', (l) => l.broker === brokerX.did);
  assert.ok((await bounded('registrationsList', brokerX.client.call('registrationsList', {}))).items.some((a) => a.did === agent.did));
  assertAlive(brokerX);
});
