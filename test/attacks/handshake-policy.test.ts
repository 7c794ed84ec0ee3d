/**
 * Seed threats "Policy tampering" (cert co-signed by both parties) and
 * "Policy replay" (stale cert from an old session rejected), against the real
 * broker process, by an in-process rogue agent with its own key.
 */
import assert from 'node:assert/strict';
import { decode, encode } from '@msgpack/msgpack';
import { after, before, describe, test } from 'node:test';
import { decodeChallenge, encodeChallenge, IdType, SecretIdentity, signedBytes } from '../../core/identity';
import { HUB_PROTOCOL_VERSION } from '../../core/wire/hub-messages';
import { waitFor } from '../support/processes';
import { Fleet } from './support/fleet';
import { HubSocket, RogueAgent } from './support/rogue-agent';

let fleet: Fleet;
before(async () => {
  fleet = await Fleet.start();
});
after(async () => {
  await fleet?.stop();
});

const rogue = () => new RogueAgent(SecretIdentity.generate(IdType.Machine), fleet.broker.url, fleet.broker.did);
const succeededFor = (did: string) => fleet.broker.log.lines.filter((l) => l.event === 'auth.succeeded' && l.did === did).length;

/** The broker's refusal: an error frame with the code, the close 4001 with it as reason, and the audited auth.refused line. */
async function expectRefusal(hub: HubSocket, code: string): Promise<void> {
  const mark = fleet.broker.log.lines.length;
  const error = await hub.next('error');
  assert.equal(error.code, code, error.message);
  const closed = await hub.waitClosed();
  assert.deepEqual(closed, { code: 4001, reason: code });
  await waitFor(`broker auth.refused ${code}`, () => fleet.broker.log.lines.slice(mark).find((l) => l.event === 'auth.refused' && l.code === code));
}

describe('Policy replay: a certificate from an earlier session is never accepted again', () => {
  test('Policy replay: the old C3 sent on a NEW connection after a new INIT is refused as session-mismatch', async () => {
    const r = rogue();
    const first = await r.authenticate();
    assert.equal(first.status, 'pending');
    assert.equal(succeededFor(r.did), 1);

    const second = await HubSocket.connect(fleet.broker.url);
    const fresh = await r.begin(second);
    assert.notDeepEqual(fresh.certificate.nonce, first.handshake.certificate.nonce);
    second.send({ type: 'auth/complete', challenge: first.handshake.complete });
    await expectRefusal(second, 'session-mismatch');
    assert.equal(succeededFor(r.did), 1, 'the replayed certificate must not authenticate anything');
    assert.equal(first.hub.closed, undefined, 'the genuine session is unaffected');
    first.hub.close();
    await fleet.assertHealthy();
  });

  test('Policy replay: the old C3 on a new connection without any INIT is refused as out-of-order', async () => {
    const r = rogue();
    const first = await r.authenticate();
    first.hub.close();
    const second = await HubSocket.connect(fleet.broker.url);
    second.send({ type: 'auth/complete', challenge: first.handshake.complete });
    const error = await second.next('error');
    assert.equal(error.code, 'out-of-order');
    assert.deepEqual(await second.waitClosed(), { code: 4001, reason: 'out-of-order' });
    assert.equal(succeededFor(r.did), 1);
    await fleet.assertHealthy();
  });

  test('Policy replay: the C3 sent twice on the same connection is refused as replay', async () => {
    const r = rogue();
    const first = await r.authenticate();
    first.hub.send({ type: 'auth/complete', challenge: first.handshake.complete });
    await expectRefusal(first.hub, 'replay');
    assert.equal(succeededFor(r.did), 1);
    await fleet.assertHealthy();
  });
});

describe('Policy tampering: modification of the co-signed certificate invalidates it', () => {
  test('Policy tampering: an approved agent rewrites metadata.pk2 (its policy) in C3 and re-signs it → metadata-rewritten; the broker keeps the granted policy', async () => {
    const r = rogue();
    const first = await r.authenticate();
    await fleet.call('registrationsApprove', { did: r.did, policy: { capabilities: ['list_files'], maxRequestsPerHour: 5 } });
    await first.hub.next('update_capabilities');

    const hub = await HubSocket.connect(fleet.broker.url);
    const hs = await r.begin(hub);
    assert.deepEqual(hs.policy.capabilities, ['list_files'], 'the broker certified the approved policy');
    const decoded = decodeChallenge(hs.complete);
    assert.ok(decoded.ok);
    const m = decoded.value;
    m.metadata = { ...m.metadata, pk2: { ...hs.policy, capabilities: ['read_file', 'list_files', 'write_file', 'run_command'], maxRequestsPerHour: 1_000_000 } };
    // The agent signs the widened policy itself: only the broker's own record of what it signed can catch this.
    m.sign1 = r.identity.signChallenge(signedBytes(m));
    hub.send({ type: 'auth/complete', challenge: encodeChallenge(m) });
    await expectRefusal(hub, 'metadata-rewritten');

    const view = await fleet.call('agentsGet', { did: r.did });
    assert.deepEqual(view.policy?.capabilities, ['list_files']);
    assert.equal(view.policy?.maxRequestsPerHour, 5);
    // The broker still refuses, before signing, what the agent tried to grant itself.
    const sent = await fleet.call('intentsDispatch', { agent: r.did, capability: 'run_command', params: { command: 'id', args: [], cwd: '.', timeoutMs: 1000 } });
    assert.equal(sent.state, 'rejected');
    assert.equal(sent.reason, 'capability-not-granted');
    assert.equal(sent.rejectedBy, 'broker');
    first.hub.close();
    await fleet.assertHealthy();
  });

  test('Policy tampering (downgrade): an INIT at Challenger version 0, whose signatures never cover metadata, is refused as unsupported-version', async () => {
    const r = rogue();
    const hub = await HubSocket.connect(fleet.broker.url);
    const init = decode(r.newInitiator().init) as Record<string, unknown>;
    assert.equal(init.version, 1);
    hub.send({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: encode({ ...init, version: 0 }) });
    await expectRefusal(hub, 'unsupported-version');
    assert.equal(succeededFor(r.did), 0);
    assert.equal((await fleet.call('agentsList', {})).items.some((a) => a.did === r.did), false, 'never registered');
    await fleet.assertHealthy();
  });

  test('Policy tampering (downgrade): a hub frame announcing protocol v0 is refused at the edge as bad-schema', async () => {
    const r = rogue();
    const hub = await HubSocket.connect(fleet.broker.url);
    hub.send({ type: 'auth/init', v: 0, challenge: r.newInitiator().init });
    const error = await hub.next('error');
    assert.equal(error.code, 'bad-schema');
    assert.deepEqual(await hub.waitClosed(), { code: 4000, reason: 'bad-schema' });
    await fleet.assertHealthy();
  });
});
