// End to end: policy changes and limits on real broker and agent processes. A policy reaches an agent
// only through a fresh co-signed certificate; every connection, first or reconnect, gets the current
// policy with its limits; an admin grants at most what an agent asked for unless they widen explicitly.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { IdType, SecretIdentity } from '../../core/identity';
import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import { RpcErrorCode } from '../../core/rpc/methods';
import { FINAL_INTENT_STATES, type IntentView, type PolicyInput } from '../../core/rpc/views';
import type { AgentHello, CommandLimits, Confinement } from '../../core/wire/policy';
import { RogueAgent, type HubSocket } from '../attacks/support/rogue-agent';
import { ROOT, waitFor, type AgentProcess, type BrokerProcess, type LogTail } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();
const started = new Started();
const sockets: HubSocket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await started.cleanup();
});

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

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The broker's own CLI against a running broker's local socket, as an admin on its host types it. */
function brokerCli(broker: BrokerProcess, ...args: string[]) {
  return spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), ...args, '--data-dir', broker.dataDir], { encoding: 'utf8', timeout: 30_000 });
}

/** The policy the broker co-signed on the agent's connection at `version` (its auth.succeeded audit line). */
const certifiedAt = (broker: BrokerProcess, did: string, version: number) =>
  broker.log.waitFor('auth.succeeded', (l) => l.did === did && l.policyVersion === version);

/** A RogueAgent (a real hub socket) with `hello`, approved with `policy`, holding the certificate it renewed to. */
async function helloAgent(broker: BrokerProcess, hello: AgentHello, policy?: PolicyInput) {
  const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, hello);
  const { hub } = await rogue.authenticate();
  sockets.push(hub);
  if (!policy) return { rogue, hub };
  await broker.client.call('registrationsApprove', { did: rogue.did, policy });
  await hub.next('update_capabilities');
  const renewed = await rogue.authenticate(hub);
  return { rogue, hub, handshake: renewed.handshake };
}

/** Names of exactly 253 characters (the longest DomainPattern takes), distinct by `i`. */
function longestDomain(i: number): string {
  const label = (c: string, n: number) => c.repeat(n);
  const head = `d${String(i).padStart(3, '0')}`;
  return `${head}${label('a', 63 - head.length)}.${label('b', 63)}.${label('c', 63)}.${label('e', 61)}`;
}

describe('allowed domains, command limits and confinement in the certified policy', () => {
  test('the CLI sets allowed domains and limits: the co-signed certificate carries them, the broker refuses a fetch elsewhere, the agent lets an allowed one through, and a second change renews', async () => {
    const { broker, agent } = await approvedAgent({ capabilities: ['http_fetch', 'run_command'], approvalRequired: ['http_fetch'] }, 'http_fetch,run_command');
    const first = await certifiedAt(broker, agent.did, 1);
    assert.deepEqual(first.allowedDomains, [], 'approved without domains: no network');
    assert.deepEqual(first.commandLimits, MAX_COMMAND_LIMITS, 'approved without limits: the widest');

    const set = brokerCli(broker, 'policy', agent.did, '--capabilities', 'http_fetch,run_command', '--approval-required', 'http_fetch',
      '--allowed-domains', 'api.example.com,*.npmjs.org', '--max-cpu-seconds', '30', '--max-memory', '512M', '--max-processes', '64',
      '--max-file-size', '100M', '--max-workspace-writes', '1G');
    assert.equal(set.status, 0, set.stderr);
    assert.equal(JSON.parse(set.stdout).policy.policyVersion, 2);
    const limits: CommandLimits = { cpuSeconds: 30, memoryBytes: 512 * MiB, processes: 64, fileBytes: 100 * MiB, workspaceWriteBytes: 1 * GiB };

    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 2);
    const second = await certifiedAt(broker, agent.did, 2);
    assert.deepEqual(second.allowedDomains, ['api.example.com', '*.npmjs.org']);
    assert.deepEqual(second.commandLimits, limits);
    const audited = broker.log.find('policy.updated', (l) => l.did === agent.did && l.policyVersion === 2);
    assert.deepEqual((audited?.policy as PolicyInput | undefined)?.allowedDomains, ['api.example.com', '*.npmjs.org'], 'the audit line names the domains');
    assert.deepEqual((audited?.policy as PolicyInput | undefined)?.commandLimits, limits, 'and the limits');
    const view = await broker.client.call('agentsGet', { did: agent.did });
    assert.deepEqual(view.policy?.allowedDomains, ['api.example.com', '*.npmjs.org']);
    assert.deepEqual(view.policy?.commandLimits, limits);

    const fetch = (url: string) => broker.client.call('intentsDispatch', { agent: agent.did, capability: 'http_fetch', params: { method: 'GET', url, timeoutMs: 5000 } });
    const refused = await fetch('https://evil.example/steal');
    assert.deepEqual({ state: refused.state, reason: refused.reason, by: refused.rejectedBy }, { state: 'rejected', reason: 'destination-refused', by: 'broker' });
    assert.match(refused.message ?? '', /evil\.example/);
    assert.equal((await broker.client.call('intentsGet', { id: refused.id })).signedIntent, null, 'never signed nor sent');
    assert.ok(broker.log.find('intent.refused', (l) => l.intentId === refused.id && l.reason === 'destination-refused'), 'the refusal is audited');

    // An allowed host passes the broker and the agent's own gates on its renewed certificate: the agent then
    // pauses for a reviewer (http_fetch needs approval here), so nothing leaves the machine in this test.
    const allowed = await fetch('https://registry.npmjs.org/zod');
    assert.equal(allowed.state, 'sent', `${allowed.reason} ${allowed.message}`);
    await waitFor('the agent to ask a reviewer about the allowed fetch', async () =>
      (await broker.client.call('approvalsList', { state: 'pending' })).items.find((a) => a.intentId === allowed.id),
    );

    // Limits left out keep their value; the domains are stated anew.
    const again = brokerCli(broker, 'policy', agent.did, '--capabilities', 'http_fetch,run_command', '--approval-required', 'http_fetch',
      '--allowed-domains', 'other.example.org', '--max-memory', '1G');
    assert.equal(again.status, 0, again.stderr);
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 3);
    const third = await certifiedAt(broker, agent.did, 3);
    assert.deepEqual(third.allowedDomains, ['other.example.org']);
    assert.deepEqual(third.commandLimits, { ...limits, memoryBytes: 1 * GiB });
    const nowRefused = await fetch('https://registry.npmjs.org/zod');
    assert.deepEqual({ reason: nowRefused.reason, by: nowRefused.rejectedBy }, { reason: 'destination-refused', by: 'broker' });
  });

  test('a bad domain pattern or size is refused with an error that says what is wrong, and changes nothing', async () => {
    const { broker, agent } = await approvedAgent({ capabilities: ['run_command'] }, 'run_command');
    const cases: [string[], RegExp][] = [
      [['--allowed-domains', '10.0.0.1'], /--allowed-domains: "10\.0\.0\.1" is an IP address/],
      [['--allowed-domains', 'https://api.example.com/v1'], /is a URL: give only its host name \(api\.example\.com\)/],
      [['--allowed-domains', 'api.example.com:443'], /names a port/],
      [['--allowed-domains', 'ok.example.com,[::1]'], /"\[::1\]" is an IP address/],
      [['--allowed-domains', 'exa_mple.com'], /is not a domain pattern/],
      [['--max-memory', 'lots'], /--max-memory: Memory: "lots" is not a size such as 512M or 2G/],
      [['--max-memory', '5G'], /--max-memory: Memory: at most 4 GiB/],
      [['--max-processes', '0'], /--max-processes: Processes: "0" is not a whole number above 0/],
    ];
    for (const [args, message] of cases) {
      const r = brokerCli(broker, 'policy', agent.did, '--capabilities', 'run_command', ...args);
      assert.equal(r.status, 1, `${args.join(' ')} must fail`);
      assert.match(r.stderr, message, args.join(' '));
    }
    const approving = brokerCli(broker, 'approve', agent.did, '--capabilities', 'run_command', '--allowed-domains', 'api.example.com,192.168.1.1');
    assert.equal(approving.status, 1);
    assert.match(approving.stderr, /--allowed-domains: "192\.168\.1\.1" is an IP address/, 'approve takes the same flags, checked the same way');
    await assert.rejects(
      broker.client.call('policySet', { did: agent.did, policy: { capabilities: ['run_command'], allowedDomains: ['10.0.0.1'] } }),
      assertRpcError(RpcErrorCode.InvalidParams, /allowedDomains/),
    );
    await assert.rejects(
      broker.client.call('policySet', { did: agent.did, policy: { capabilities: ['run_command'], commandLimits: { memoryBytes: MAX_COMMAND_LIMITS.memoryBytes + 1 } } }),
      assertRpcError(RpcErrorCode.InvalidParams, /memoryBytes/),
    );
    assert.equal((await broker.client.call('agentsGet', { did: agent.did })).policy?.policyVersion, 1, 'no refused change made a version');
    assert.equal(broker.log.find('policy.updated', (l) => l.did === agent.did), undefined);
  });

  test(`a policy names up to BUDGETS.allowedDomains (${BUDGETS.allowedDomains.limit}) domains of the longest length, carried whole in the certificate; one more is refused`, async () => {
    const broker = await started.broker();
    const { rogue, hub } = await helloAgent(broker, { name: 'many-domains', requested: ['http_fetch'], agentVersion: '0.3.0' }, { capabilities: ['http_fetch'] });
    const atBound = Array.from({ length: BUDGETS.allowedDomains.limit }, (_, i) => (i % 2 ? `*.${longestDomain(i).slice(2)}` : longestDomain(i)));
    assert.ok(atBound.every((d) => d.length === 253));
    // Only the domains change: that alone is a new version, pushed as update_capabilities, and renews the certificate.
    const changed = await broker.client.call('policySet', { did: rogue.did, policy: { capabilities: ['http_fetch'], allowedDomains: atBound } });
    assert.equal(changed.policy?.policyVersion, 2);
    assert.equal((await hub.next('update_capabilities')).policyVersion, 2);
    const renewed = await rogue.authenticate(hub);
    assert.equal(renewed.status, 'approved');
    assert.equal(renewed.handshake.policy.policyVersion, 2);
    assert.deepEqual(renewed.handshake.policy.capabilities, ['http_fetch']);
    assert.deepEqual(renewed.handshake.policy.allowedDomains, atBound, 'the co-signed certificate carries every domain');
    assert.deepEqual(renewed.handshake.policy.commandLimits, MAX_COMMAND_LIMITS);

    await assert.rejects(
      broker.client.call('policySet', { did: rogue.did, policy: { capabilities: ['http_fetch'], allowedDomains: [...atBound, 'one.more.example'] } }),
      assertRpcError(RpcErrorCode.InvalidParams, /allowedDomains/),
    );
    assert.equal((await broker.client.call('agentsGet', { did: rogue.did })).policy?.policyVersion, 2, 'the refused change made no version');
    const cli = brokerCli(broker, 'policy', rogue.did, '--capabilities', 'http_fetch', '--allowed-domains', [...atBound, 'one.more.example'].join(','));
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, new RegExp(`${BUDGETS.allowedDomains.limit + 1} allowed domains; a policy names at most ${BUDGETS.allowedDomains.limit}`));
  });

  test('the confinement an agent states in its signed hello shows in agentsList, is replaced by its next hello, and outlives its connection and a broker restart', async () => {
    const broker = await started.broker();
    const ceilings: CommandLimits = { cpuSeconds: 60, memoryBytes: 1 * GiB, processes: 32, fileBytes: 64 * MiB, workspaceWriteBytes: 256 * MiB };
    const sandboxed: Confinement = { mode: 'sandboxed', detail: 'bubblewrap 0.8.0', ceilings };
    const { rogue: confined } = await helloAgent(broker, { name: 'confined', requested: ['run_command'], agentVersion: '0.3.0', confinement: sandboxed }, { capabilities: ['run_command'] });
    const { rogue: older } = await helloAgent(broker, { name: 'older', requested: ['run_command'], agentVersion: '0.2.0' });
    const listed = async (b: BrokerProcess) => new Map((await b.client.call('agentsList', {})).items.map((a) => [a.did, a.confinement]));
    let shown = await listed(broker);
    assert.deepEqual(shown.get(confined.did), sandboxed);
    assert.equal(shown.get(older.did), null, 'an agent before 0.3.0 states nothing: unknown');
    assert.ok(broker.log.find('auth.succeeded', (l) => l.did === confined.did && l.confinement === 'sandboxed'), 'the handshake audit line says how it confines');

    // The same agent comes back without a sandbox: the view follows its latest signed word.
    const unavailable: Confinement = { mode: 'unavailable', detail: 'bwrap is not on the PATH: install bubblewrap', ceilings };
    const again = new RogueAgent(confined.identity, broker.url, broker.did, { ...confined.hello, confinement: unavailable });
    const { hub } = await again.authenticate();
    sockets.push(hub);
    shown = await listed(broker);
    assert.deepEqual(shown.get(confined.did), unavailable);
    const changes = broker.log.lines.filter((l) => l.event === 'agent.confinement' && l.did === confined.did);
    assert.deepEqual(changes.map((l) => [l.was, l.mode]), [['unknown', 'sandboxed'], ['sandboxed', 'unavailable']], 'one audit line per change; none for the renewal at approval');
    assert.equal(changes[1]!.level, 40, 'a warning when an approved agent\'s commands leave the sandbox');
    assert.equal(changes[1]!.detail, unavailable.detail);

    for (const socket of sockets.splice(0)) socket.close();
    await waitFor('both agents offline', async () => (await broker.client.call('agentsList', {})).items.every((a) => !a.online));
    await broker.stop();
    const restarted = await started.broker({ dataDir: broker.dataDir });
    shown = await listed(restarted);
    assert.deepEqual(shown.get(confined.did), unavailable, 'the last report is kept across a restart, for an offline agent');
    assert.equal(shown.get(older.did), null);
  });
});
