// End to end: policy changes and limits on real broker and agent processes. A policy reaches an agent
// only through a fresh co-signed certificate; every connection, first or reconnect, gets the current
// policy with its limits; an admin grants at most what an agent asked for unless they widen explicitly.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { RpcErrorCode } from '../../core/rpc/methods';
import { FINAL_INTENT_STATES, type IntentView, type PolicyInput } from '../../core/rpc/views';
import { waitFor, type AgentProcess, type BrokerProcess, type LogTail } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();
const started = new Started();
afterEach(() => started.cleanup());

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

/** A broker and one agent, approved with `policy`, whose certificate of policy version 1 is in hand. */
async function approvedAgent(policy: PolicyInput, request = 'read_file,list_files,write_file,run_command') {
  const broker = await started.broker();
  const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request });
  await waitFor('the agent to be a pending, online registration', async () =>
    (await broker.client.call('registrationsList', {})).items.find((r) => r.did === agent.did && r.online),
  );
  await broker.client.call('registrationsApprove', { did: agent.did, policy });
  await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
  return { broker, agent };
}

async function run(broker: BrokerProcess, agent: AgentProcess, capability: IntentView['capability'], params: Record<string, unknown>) {
  const dispatched = await broker.client.call('intentsDispatch', { agent: agent.did, capability, params });
  return finalIntent(broker, dispatched.id);
}

function assertRpcError(code: number, pattern: RegExp) {
  return (err: unknown) => {
    assert.equal((err as { code?: unknown }).code, code, `JSON-RPC error code of ${String(err)}`);
    assert.match((err as Error).message, pattern);
    return true;
  };
}

describe('policy changes', () => {
  test('narrowing a connected agent\'s capabilities renews its certificate at once, and the broker refuses the removed capability', async () => {
    const { broker, agent } = await approvedAgent({ capabilities: ['read_file', 'list_files'] });
    writeFileSync(join(agent.workspace, 'kept.txt'), 'still readable\n');
    assert.equal((await run(broker, agent, 'list_files', { path: '.' })).state, 'succeeded', 'list_files works before the change');

    const view = await broker.client.call('policySet', { did: agent.did, policy: { capabilities: ['read_file'] } });
    assert.equal(view.policy?.policyVersion, 2);
    assert.deepEqual(view.policy?.capabilities, ['read_file']);

    const renewed = await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 2);
    assert.equal(renewed.status, 'approved');
    assert.deepEqual(renewed.capabilities, ['read_file'], 'the new certificate carries only the remaining capability');
    assert.ok(agent.log.find('policy.renewing', (l) => l.policyVersion === 2));
    assert.ok(broker.log.find('auth.succeeded', (l) => l.did === agent.did && l.policyVersion === 2), 'the broker co-signed version 2');
    assert.ok(broker.log.find('policy.updated', (l) => l.did === agent.did && l.policyVersion === 2), 'the change is audited');
    // Renewal happens on the same connection: the agent never dropped off.
    assert.equal(agent.log.find('hub.disconnected'), undefined);

    const removed = await run(broker, agent, 'list_files', { path: '.' });
    assert.equal(removed.state, 'rejected');
    assert.equal(removed.rejectedBy, 'broker');
    assert.equal(removed.reason, 'capability-not-granted');
    assert.equal(removed.signedIntent, null, 'a refused intent is never signed or sent');

    const kept = await run(broker, agent, 'read_file', { path: 'kept.txt' });
    assert.equal(kept.state, 'succeeded', `read_file ended ${kept.state}: ${kept.reason} ${kept.message}`);
    assert.equal(kept.output?.content, 'still readable\n');
  });

  test('limits survive a kill -9 and reconnect: the new certificate has the same limits and the third request in the hour is refused rate-limited', async () => {
    const { broker, agent } = await approvedAgent({ capabilities: ['list_files'], maxRequestsPerHour: 2 }, 'list_files');
    for (let i = 0; i < 2; i++) {
      const done = await run(broker, agent, 'list_files', { path: '.' });
      assert.equal(done.state, 'succeeded', `intent ${i + 1} ended ${done.state}: ${done.reason} ${done.message}`);
    }
    assert.equal((await broker.client.call('agentsGet', { did: agent.did })).usage.requestsLastHour, 2);

    await agent.kill();
    await waitFor('the broker to see the agent offline', async () => !(await broker.client.call('agentsGet', { did: agent.did })).online);
    const handshakesBefore = count(broker.log, 'auth.succeeded', (l) => l.did === agent.did);

    const restarted = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, stateDir: agent.stateDir, workspace: agent.workspace, request: 'list_files' });
    assert.equal(restarted.did, agent.did);
    // A plain reconnect: no update_capabilities, yet the first certificate already carries the approved policy.
    const auth = await restarted.log.waitFor('auth.succeeded');
    assert.equal(auth.status, 'approved');
    assert.equal(auth.policyVersion, 1);
    assert.deepEqual(auth.capabilities, ['list_files']);
    assert.equal(restarted.log.find('policy.renewing'), undefined, 'the reconnect needed no renewal');
    await waitFor('a fresh broker-side handshake', () => count(broker.log, 'auth.succeeded', (l) => l.did === agent.did) > handshakesBefore);
    assert.ok(broker.log.lines.filter((l) => l.event === 'auth.succeeded' && l.did === agent.did).at(-1)?.policyVersion === 1);

    const view = await broker.client.call('agentsGet', { did: agent.did });
    assert.equal(view.online, true);
    assert.equal(view.policy?.maxRequestsPerHour, 2, 'the limit is still in the certified policy');
    assert.equal(view.policy?.policyVersion, 1);
    assert.equal(view.usage.requestsLastHour, 2);

    const third = await run(broker, restarted, 'list_files', { path: '.' });
    assert.equal(third.state, 'rejected');
    assert.equal(third.reason, 'rate-limited');
    assert.equal(third.rejectedBy, 'broker');
  });

  test('the broker keeps its hourly count and agents\' last_seen across its own restarts: the third request is still refused rate-limited by the broker', async () => {
    const { broker, agent } = await approvedAgent({ capabilities: ['list_files'], maxRequestsPerHour: 2 }, 'list_files');
    for (let i = 0; i < 2; i++) assert.equal((await run(broker, agent, 'list_files', { path: '.' })).state, 'succeeded');
    const restartBroker = (from: BrokerProcess) => started.broker({ dataDir: from.dataDir, port: Number(new URL(from.url).port) });
    const online = (b: BrokerProcess, did: string) => waitFor(`${did} online`, async () => (await b.client.call('agentsGet', { did })).online, 15_000);

    await broker.stop();
    const second = await restartBroker(broker);
    await online(second, agent.did);
    // The reconnect changed only last_seen: held in memory, written at the latest when the broker stops.
    const seen = (await second.client.call('agentsGet', { did: agent.did })).lastSeen;
    await agent.kill();
    await waitFor('the agent offline', async () => !(await second.client.call('agentsGet', { did: agent.did })).online);
    await second.stop();

    const third = await restartBroker(second);
    const view = await third.client.call('agentsGet', { did: agent.did });
    assert.equal(view.lastSeen, seen, 'the last_seen of the reconnect was written at shutdown');
    assert.equal(view.usage.requestsLastHour, 2, 'the hourly window is rebuilt from the intents table');
    const back = await started.agent({ brokerUrl: third.url, brokerDid: third.did, stateDir: agent.stateDir, workspace: agent.workspace, request: 'list_files' });
    await online(third, back.did);
    const refused = await run(third, back, 'list_files', { path: '.' });
    assert.deepEqual({ state: refused.state, reason: refused.reason, by: refused.rejectedBy }, { state: 'rejected', reason: 'rate-limited', by: 'broker' });
  });

  test('approving a capability the agent did not ask for fails without widen and succeeds with widen: true', async () => {
    const broker = await started.broker();
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'read_file,list_files' });
    await waitFor('the agent to be pending and online', async () =>
      (await broker.client.call('registrationsList', {})).items.find((r) => r.did === agent.did && r.online),
    );

    await assert.rejects(
      broker.client.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['list_files', 'run_command'] } }),
      assertRpcError(RpcErrorCode.InvalidParams, /run_command/),
    );
    const untouched = await broker.client.call('agentsGet', { did: agent.did });
    assert.equal(untouched.status, 'pending', 'a refused approval changes nothing');
    assert.equal(untouched.policy, null);
    assert.equal(agent.log.find('auth.succeeded', (l) => l.policyVersion === 1), undefined);

    const widened = await broker.client.call('registrationsApprove', {
      did: agent.did,
      policy: { capabilities: ['list_files', 'run_command'] },
      widen: true,
    });
    assert.equal(widened.status, 'approved');
    assert.deepEqual(widened.policy?.capabilities, ['list_files', 'run_command']);
    const renewed = await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
    assert.deepEqual(renewed.capabilities, ['list_files', 'run_command']);

    const ran = await run(broker, agent, 'run_command', { command: 'echo', args: ['widened'], cwd: '.', timeoutMs: 5000 });
    assert.equal(ran.state, 'succeeded', `run_command ended ${ran.state}: ${ran.reason} ${ran.message}`);
    assert.equal(ran.output?.stdout, 'widened\n');

    // A later policy change is held to the same rule.
    await assert.rejects(
      broker.client.call('policySet', { did: agent.did, policy: { capabilities: ['list_files', 'run_command', 'write_file'] } }),
      assertRpcError(RpcErrorCode.InvalidParams, /write_file/),
    );
    assert.equal((await broker.client.call('agentsGet', { did: agent.did })).policy?.policyVersion, 1, 'the refused change made no new version');
  });
});
