// End to end: a real broker process and real agent processes on loopback WebSockets. Registration,
// approval, rejection and revocation as an admin drives them through the broker's JSON-RPC socket;
// every assertion reads what the processes did (their logs, exit codes, the broker's records).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { open, readKeyFile, type SealedEnvelope } from '../../core/identity';
import { FINAL_INTENT_STATES, type IntentView } from '../../core/rpc/views';
import { IntentBody, ResultBody } from '../../core/wire/intent';
import { waitFor, type AgentProcess, type BrokerProcess, type LogTail } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

const count = (log: LogTail, event: string, match: (l: Record<string, unknown>) => boolean) =>
  log.lines.filter((l) => l.event === event && match(l)).length;

async function finalIntent(broker: BrokerProcess, id: string, timeoutMs = 10_000): Promise<IntentView> {
  return waitFor(
    `intent ${id} to reach a final state`,
    async () => {
      const view = await broker.client.call('intentsGet', { id });
      return FINAL_INTENT_STATES.includes(view.state) ? view : undefined;
    },
    timeoutMs,
  );
}

const envelopeOf = (signed: { payload: string; signature: string }): SealedEnvelope => ({
  payload: new Uint8Array(Buffer.from(signed.payload, 'base64')),
  signature: new Uint8Array(Buffer.from(signed.signature, 'base64')),
});

async function pendingOnline(broker: BrokerProcess, did: string) {
  return waitFor(`${did} to be a pending, online registration`, async () =>
    (await broker.client.call('registrationsList', {})).items.find((r) => r.did === did && r.online),
  );
}

describe('registration of two unknown agents on one broker', () => {
  const started = new Started();
  let broker: BrokerProcess;
  let approved: AgentProcess;
  let refused: AgentProcess;

  before(async () => {
    broker = await started.broker();
    [approved, refused] = await Promise.all([
      started.agent({ brokerUrl: broker.url, brokerDid: broker.did, name: 'agent-one', request: 'read_file,list_files' }),
      started.agent({ brokerUrl: broker.url, brokerDid: broker.did, name: 'agent-two', request: 'read_file' }),
    ]);
  });
  after(() => started.cleanup());

  test('both agents become pending, online registrations carrying the name and capabilities they asked for', async () => {
    const one = await pendingOnline(broker, approved.did);
    const two = await pendingOnline(broker, refused.did);
    assert.equal(one.status, 'pending');
    assert.equal(one.name, 'agent-one');
    assert.deepEqual(one.requested, ['read_file', 'list_files']);
    assert.equal(one.policy, null, 'a pending agent has no policy');
    assert.equal(two.status, 'pending');
    assert.equal(two.name, 'agent-two');
    assert.deepEqual(two.requested, ['read_file']);
    // Each agent holds a certificate that grants nothing until an admin decides.
    for (const agent of [approved, refused]) {
      const auth = await agent.log.waitFor('auth.succeeded', (l) => l.status === 'pending');
      assert.equal(auth.policyVersion, 0);
      assert.deepEqual(auth.capabilities, []);
      assert.equal(auth.broker, broker.did, 'the agent authenticated the broker it is pinned to');
    }
    for (const agent of [approved, refused]) {
      assert.ok(broker.log.find('registration.pending', (l) => l.did === agent.did), `broker audited ${agent.did} as pending`);
    }
    // A pending agent runs nothing: the broker refuses before signing.
    const early = await broker.client.call('intentsDispatch', { agent: approved.did, capability: 'read_file', params: { path: 'x' } });
    assert.equal(early.state, 'rejected');
    assert.equal(early.rejectedBy, 'broker');
    assert.equal(early.reason, 'not-approved');
    assert.equal((await broker.client.call('intentsGet', { id: early.id })).signedIntent, null);
  });

  test('an approved agent renews its certificate with the granted capabilities and answers an intent with a result the broker verified', async () => {
    await pendingOnline(broker, approved.did);
    const view = await broker.client.call('registrationsApprove', {
      did: approved.did,
      policy: { capabilities: ['read_file', 'list_files'], maxRequestsPerHour: 10 },
    });
    assert.equal(view.status, 'approved');
    assert.equal(view.policy?.policyVersion, 1);

    const renewed = await approved.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
    assert.equal(renewed.status, 'approved');
    assert.deepEqual(renewed.capabilities, ['read_file', 'list_files']);
    assert.ok(approved.log.find('policy.renewing', (l) => l.policyVersion === 1), 'renewal was triggered by update_capabilities');
    assert.equal((await broker.client.call('registrationsList', {})).items.some((r) => r.did === approved.did), false, 'no longer pending');

    const dispatched = await broker.client.call('intentsDispatch', { agent: approved.did, capability: 'list_files', params: { path: '.' } });
    assert.ok(['sent', 'running', 'succeeded'].includes(dispatched.state), `dispatched intent is ${dispatched.state}`);
    const done = await finalIntent(broker, dispatched.id);
    assert.equal(done.state, 'succeeded', `intent ended ${done.state}: ${done.reason} ${done.message}`);
    assert.deepEqual(done.output, { entries: [], truncated: false });
    assert.ok(done.signedIntent, 'the signed intent is kept');
    assert.ok(done.signedResult, 'the signed result is kept');

    // The intent is signed by the broker's key over every field, params included.
    const brokerId = readKeyFile(join(broker.dataDir, 'broker.key')).id;
    assert.equal(brokerId.did, broker.did);
    const intent = open(brokerId, 'vaultysclaw/intent/v1', envelopeOf(done.signedIntent));
    assert.ok(intent.ok, 'the intent envelope verifies with the broker key');
    const intentBody = IntentBody.parse(intent.body);
    assert.equal(intentBody.id, done.id);
    assert.equal(intentBody.agent, approved.did);
    assert.equal(intentBody.capability, 'list_files');
    assert.deepEqual(intentBody.params, { path: '.' });

    // The result is signed by this agent's key, bound to the intent id, and carries the output the broker shows.
    const agentId = readKeyFile(join(approved.stateDir, 'agent.key')).id;
    assert.equal(agentId.did, approved.did);
    const result = open(agentId, 'vaultysclaw/result/v1', envelopeOf(done.signedResult));
    assert.ok(result.ok, 'the result envelope verifies with the agent key');
    const resultBody = ResultBody.parse(result.body);
    assert.equal(resultBody.intentId, done.id);
    assert.equal(resultBody.agent, approved.did);
    assert.equal(resultBody.outcome, 'succeeded');
    assert.deepEqual(resultBody.output, done.output);
    // …and by no other key: the other agent's key does not verify it.
    const otherId = readKeyFile(join(refused.stateDir, 'agent.key')).id;
    assert.equal(open(otherId, 'vaultysclaw/result/v1', envelopeOf(done.signedResult)).ok, false);
  });

  test('a rejected agent is disconnected, exits with code 3, and is refused again on every reconnect (rejection is sticky)', async () => {
    await pendingOnline(broker, refused.did);
    const view = await broker.client.call('registrationsReject', { did: refused.did, reason: 'unknown machine' });
    assert.equal(view.status, 'rejected');
    assert.equal(await refused.exited(10_000), 3, 'the rejected agent exits with code 3');
    assert.ok(refused.log.find('agent.revoked'), 'the agent logged that the broker ended its registration');

    const decided = await broker.client.call('agentsGet', { did: refused.did });
    assert.equal(decided.status, 'rejected');
    assert.equal(decided.statusReason, 'unknown machine');
    assert.equal(decided.online, false);

    // Restart it with the same identity: the broker refuses the handshake before signing, and tells it the
    // registration is over, so it stops instead of retrying for ever.
    const before = count(broker.log, 'auth.refused', (l) => l.did === refused.did);
    const again = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, stateDir: refused.stateDir, workspace: refused.workspace, name: 'agent-two', request: 'read_file' });
    assert.equal(again.did, refused.did);
    assert.equal(await again.exited(10_000), 3, 'the restarted rejected agent is refused and exits with code 3');
    assert.ok(count(broker.log, 'auth.refused', (l) => l.did === refused.did) > before, 'the broker audited the refusal');
    assert.equal(again.log.find('auth.succeeded'), undefined, 'the rejected agent never authenticates again');
    const still = await broker.client.call('agentsGet', { did: refused.did });
    assert.equal(still.status, 'rejected', 'not re-queued as pending');
    assert.equal(still.online, false);
    assert.equal((await broker.client.call('registrationsList', {})).items.some((r) => r.did === refused.did), false);
    // The refusal did not disturb the approved agent.
    assert.equal((await broker.client.call('agentsGet', { did: approved.did })).online, true);
  });

  test('a revoked agent is disconnected at once, refused when it reconnects, and the broker refuses intents to it', async () => {
    await approved.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
    const view = await broker.client.call('agentsRevoke', { did: approved.did, reason: 'decommissioned' });
    assert.equal(view.status, 'revoked');
    assert.equal(await approved.exited(10_000), 3, 'the revoked agent was disconnected and exits with code 3');
    assert.equal((await broker.client.call('agentsGet', { did: approved.did })).online, false);

    const again = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, stateDir: approved.stateDir, workspace: approved.workspace, name: 'agent-one', request: 'read_file,list_files' });
    await broker.log.waitFor('auth.refused', (l) => l.did === approved.did && l.reason === 'revoked');
    assert.equal(again.log.find('auth.succeeded'), undefined, 'the revoked agent never authenticates again');
    const still = await broker.client.call('agentsGet', { did: approved.did });
    assert.equal(still.status, 'revoked');
    assert.equal(still.online, false);
    assert.equal((await broker.client.call('registrationsList', {})).items.some((r) => r.did === approved.did), false, 'not re-queued as pending');

    const refusedIntent = await broker.client.call('intentsDispatch', { agent: approved.did, capability: 'list_files', params: { path: '.' } });
    assert.equal(refusedIntent.state, 'rejected');
    assert.equal(refusedIntent.rejectedBy, 'broker');
    assert.equal(refusedIntent.reason, 'not-approved');
    assert.equal((await broker.client.call('intentsGet', { id: refusedIntent.id })).signedIntent, null, 'nothing was signed for a revoked agent');
  });
});

describe('broker restart', () => {
  const started = new Started();
  afterEach(() => started.cleanup());

  test('a pending registration survives a broker restart on the same data directory and can be approved afterwards', async () => {
    const first = await started.broker();
    const agent = await started.agent({ brokerUrl: first.url, brokerDid: first.did, name: 'waiting', request: 'list_files' });
    await pendingOnline(first, agent.did);
    await first.stop();

    // Same data directory, same port: the agent's reconnect loop finds the new process.
    const second = await started.broker({ dataDir: first.dataDir, port: Number(new URL(first.url).port) });
    assert.equal(second.did, first.did, 'the broker keeps its identity');
    const listed = (await second.client.call('registrationsList', {})).items.find((r) => r.did === agent.did);
    assert.ok(listed, 'the pending registration is still listed after the restart');
    assert.equal(listed.status, 'pending');
    assert.equal(listed.name, 'waiting');
    assert.deepEqual(listed.requested, ['list_files']);

    await pendingOnline(second, agent.did);
    await second.client.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['list_files'] } });
    const renewed = await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
    assert.deepEqual(renewed.capabilities, ['list_files']);
  });
});
