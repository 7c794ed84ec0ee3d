/**
 * Seed threats "Man-in-the-middle", "Intent tampering in transit", "Replay
 * attack" and "Resource limit bypass", over the network: a WebSocket proxy on
 * 127.0.0.1 sits between a real agent process and the real broker, and
 * rewrites, drops and re-injects frames.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { open, readKeyFile, type VaultysId } from '../../core/identity';
import { decodeFrame, encodeFrame } from '../../core/wire/frame-codec';
import { AgentFrame, BrokerFrame, MAX_HUB_FRAME_BYTES } from '../../core/wire/hub-messages';
import { ResultBody } from '../../core/wire/intent';
import { startAgent, waitFor, type AgentProcess } from '../support/processes';
import { flipLastByteOf } from './support/bytes';
import { approve, finalIntent, Fleet } from './support/fleet';
import { MitmProxy, type Intercepted } from './support/mitm-proxy';

let fleet: Fleet;
let proxy: MitmProxy;
let victim: AgentProcess;
let victimId: VaultysId;
/** The intent frame the proxy recorded for the replay attacks. */
let recorded: { id: string; data: Uint8Array } | undefined;

const dispatch = (capability: 'list_files' | 'write_file', params: Record<string, unknown>) =>
  fleet.call('intentsDispatch', { agent: victim.did, capability, params });

/** Results the agent sent through the proxy, verified with the agent's key. */
function agentResults(): ResultBody[] {
  return proxy.seen.flatMap((m) => {
    if (m.direction !== 'toBroker') return [];
    const frame = decodeFrame(AgentFrame, m.data, MAX_HUB_FRAME_BYTES);
    if (!frame.ok || frame.value.type !== 'result') return [];
    const opened = open(victimId, 'vaultysclaw/result/v1', frame.value.envelope);
    assert.ok(opened.ok, 'every result through the proxy is signed by the agent');
    return [ResultBody.parse(opened.body)];
  });
}

function intentFrame(m: Intercepted) {
  const frame = decodeFrame(BrokerFrame, m.data, MAX_HUB_FRAME_BYTES);
  return frame.ok && frame.value.type === 'intent' ? frame.value : undefined;
}

async function victimStillWorks(): Promise<void> {
  const sent = await dispatch('list_files', { path: '.' });
  assert.equal((await finalIntent(fleet.broker, sent.id)).state, 'succeeded');
}

before(async () => {
  fleet = await Fleet.start();
  proxy = await MitmProxy.start(fleet.broker.url);
  victim = fleet.track(await startAgent({ brokerUrl: proxy.url, brokerDid: fleet.broker.did, name: 'victim' }));
  victimId = readKeyFile(join(victim.stateDir, 'agent.key')).id;
  await approve(fleet.broker, victim, ['read_file', 'list_files']);
});
after(async () => {
  await proxy?.close();
  await fleet?.stop();
});

describe('man in the middle between a real agent and the real broker', () => {
  test('Resource limit bypass: the proxy drops update_capabilities after a widening; the broker sends write_file, the agent refuses capability-not-granted from its certificate', async () => {
    const updates = proxy.frames('toAgent', 'update_capabilities').length;
    const renewals = victim.log.lines.filter((l) => l.event === 'policy.renewing').length;
    proxy.hook = (m) => (m.direction === 'toAgent' && m.frame?.type === 'update_capabilities' ? null : undefined);
    await fleet.call('policySet', { did: victim.did, policy: { capabilities: ['read_file', 'list_files', 'write_file'] } });
    await waitFor('the dropped update_capabilities', () => proxy.frames('toAgent', 'update_capabilities').length === updates + 1);

    const sent = await dispatch('write_file', { path: 'widened.txt', content: 'x', mode: 'create' });
    assert.equal(sent.state, 'sent', 'the broker, holding the new policy, signs and sends');
    const done = await finalIntent(fleet.broker, sent.id);
    assert.equal(done.state, 'rejected');
    assert.equal(done.rejectedBy, 'agent');
    assert.equal(done.reason, 'capability-not-granted');
    assert.equal(existsSync(join(victim.workspace, 'widened.txt')), false);
    assert.equal(victim.log.lines.filter((l) => l.event === 'policy.renewing').length, renewals, 'the agent never heard of the new policy');

    // Control: once update_capabilities gets through, the renewed certificate allows it (so the refusal above was the certificate's).
    proxy.hook = () => undefined;
    await fleet.call('policySet', { did: victim.did, policy: { capabilities: ['read_file', 'list_files', 'write_file'] } });
    await victim.log.waitFor('auth.succeeded', (l) => l.policyVersion === 3);
    const allowed = await dispatch('write_file', { path: 'widened.txt', content: 'x', mode: 'create' });
    assert.equal((await finalIntent(fleet.broker, allowed.id)).state, 'succeeded');
    assert.equal(existsSync(join(victim.workspace, 'widened.txt')), true);
    await fleet.assertHealthy();
  });

  test('Man-in-the-middle: the proxy flips one byte of the intent payload → the agent refuses bad-signature and the broker records it rejected by the agent', async () => {
    let tampered = 0;
    proxy.hook = (m) => {
      const frame = m.direction === 'toAgent' ? intentFrame(m) : undefined;
      if (!frame || tampered++) return undefined;
      const payload = flipLastByteOf(frame.envelope.payload, 'mitm-target.txt');
      return encodeFrame({ type: 'intent', envelope: { payload, signature: frame.envelope.signature } });
    };
    const sent = await dispatch('write_file', { path: 'mitm-target.txt', content: 'pwned', mode: 'create' });
    const done = await finalIntent(fleet.broker, sent.id);
    proxy.hook = () => undefined;
    assert.equal(tampered, 1);
    assert.equal(done.state, 'rejected');
    assert.equal(done.rejectedBy, 'agent');
    assert.equal(done.reason, 'bad-signature');
    const audit = await victim.log.waitFor('intent.refused', (l) => l.claimedId === sent.id);
    assert.equal(audit.reason, 'bad-signature');
    assert.equal(existsSync(join(victim.workspace, 'mitm-target.txt')), false);
    assert.equal(existsSync(join(victim.workspace, 'mitm-target.txu')), false);
    await victimStillWorks();
    await fleet.assertHealthy();
  });

  test('Replay attack: the proxy re-injects a recorded intent frame → the agent refuses replay and the tool does not run again', async () => {
    const file = join(victim.workspace, 'replay-target.txt');
    const sent = await dispatch('write_file', { path: 'replay-target.txt', content: 'once', mode: 'overwrite' });
    assert.equal((await finalIntent(fleet.broker, sent.id)).state, 'succeeded');
    const frame = proxy.seen.find((m) => m.direction === 'toAgent' && intentFrame(m) && Buffer.from(m.data).includes(Buffer.from(sent.id)));
    assert.ok(frame, 'the proxy recorded the intent frame');
    recorded = { id: sent.id, data: frame.data };
    writeFileSync(file, 'changed since');

    proxy.injectToAgent(recorded.data);
    const refused = await victim.log.waitFor('intent.rejected', (l) => l.intentId === sent.id);
    assert.equal(refused.reason, 'replay');
    const signed = await waitFor('the signed replay refusal', () => agentResults().find((r) => r.intentId === sent.id && r.reason === 'replay'));
    assert.equal(signed.outcome, 'rejected');
    assert.equal(readFileSync(file, 'utf8'), 'changed since');
    // The broker keeps the first, genuine outcome.
    assert.equal((await fleet.call('intentsGet', { id: sent.id })).state, 'succeeded');
    await fleet.assertHealthy();
  });

  test('Replay attack across a restart: after kill -9 and a restart on the same state directory, the re-injected frame is still refused as replay', async () => {
    assert.ok(recorded, 'needs the frame recorded by the previous test');
    const { id, data } = recorded;
    await victim.kill();
    victim = fleet.track(await startAgent({ brokerUrl: proxy.url, brokerDid: fleet.broker.did, name: 'victim', stateDir: victim.stateDir, workspace: victim.workspace }));
    await victim.log.waitFor('auth.succeeded', (l) => l.status === 'approved');
    proxy.injectToAgent(data);
    const refused = await victim.log.waitFor('intent.rejected', (l) => l.intentId === id);
    assert.equal(refused.reason, 'replay');
    assert.equal(victim.log.find('intent.executing', (l) => l.intentId === id), undefined);
    assert.equal(readFileSync(join(victim.workspace, 'replay-target.txt'), 'utf8'), 'changed since');
    await victimStillWorks();
    await fleet.assertHealthy();
  });
});
