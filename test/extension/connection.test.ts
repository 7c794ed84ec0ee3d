// The extension's connection to the broker it runs: Node found or refused with words a person can act on,
// the broker's DID pinned from its data directory, crashes restarted with backoff and nothing stale shown
// as live in between, a second user key on the same data directory let in by the host operator.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { BrokerClient } from '../../broker/cli/broker-client';
import { IdType, SecretIdentity } from '../../core/identity';
import { shortFingerprint } from '../../core/text/untrusted-text';
import { describeAuditVerdict, readBrokerIdentity, runBrokerCli, verifyAuditLogFile } from '../../extension/connection/broker-cli';
import { notOwnerMessage, watchOwnStanding } from '../../extension/connection/role-change';
import { findOnPath, majorOf, NodeNotFoundError, resolveNode } from '../../extension/connection/node-runtime';
import { backoffDelay, BrokerSupervisor, PermanentConnectError, type BrokerState } from '../../extension/connection/supervisor';
import { generateUserIdentity } from '../../extension/identity/user-key';
import { agentsTree } from '../../extension/model/agents-tree';
import { LiveModel } from '../../extension/model/live-model';
import { statusText } from '../../extension/model/status-summary';
import { connectLocalBroker, portIsFree, type LaunchBroker } from '../../extension/connection/local-session';
import { createServer } from 'node:net';
import { removeDirs, ROOT, startAgent, tempDir, waitFor, type AgentProcess } from '../support/processes';
import { connectLocal } from './support/local';
import { killLaunched, stdioLauncher, type LaunchedBroker } from './support/stdio-launcher';

const launched: LaunchedBroker[] = [];
const agents: AgentProcess[] = [];
const dirs: string[] = [];
const supervisors: BrokerSupervisor[] = [];

afterEach(async () => {
  for (const s of supervisors.splice(0)) await s.stop();
  for (const a of agents.splice(0)) await a.kill().catch(() => undefined);
  await killLaunched(launched);
  removeDirs(...dirs.splice(0));
});
after(() => {
  setTimeout(() => process.exit(process.exitCode ?? 0), 5000).unref();
});

describe('finding Node for the broker', () => {
  test('uses the setting when it names a Node 20+, else the first node on PATH', async () => {
    const fromSetting = await resolveNode(process.execPath, '');
    assert.equal(fromSetting.source, 'setting');
    assert.ok((majorOf(fromSetting.version) ?? 0) >= 20);
    const fromPath = await resolveNode('', dirname(process.execPath));
    assert.equal(fromPath.source, 'PATH');
    assert.equal(findOnPath(`/nonexistent:${dirname(process.execPath)}`), join(dirname(process.execPath), 'node'));
  });

  test('says what to do when there is none, or the setting is wrong', async () => {
    await assert.rejects(resolveNode('', ''), (err: unknown) => {
      assert.ok(err instanceof NodeNotFoundError);
      assert.match(err.message, /found no "node" on PATH\. Install Node\.js 20\+ or set vaultysclaw\.nodePath/);
      return true;
    });
    await assert.rejects(resolveNode('node', ''), /must be an absolute path/);
    const dir = tempDir('fake-node');
    dirs.push(dir);
    const plain = join(dir, 'not-node');
    writeFileSync(plain, 'hello\n', { mode: 0o644 });
    await assert.rejects(resolveNode(plain, ''), /not an executable file/);
    await assert.rejects(resolveNode(dir, ''), /not an executable file/);
    const old = join(dir, 'node');
    writeFileSync(old, '#!/bin/sh\necho v18.19.0\n');
    chmodSync(old, 0o755);
    await assert.rejects(resolveNode(old, ''), /is Node\.js v18\.19\.0; the broker needs 20 or later/);
    await assert.rejects(resolveNode('', dir), /needs 20 or later/, 'an old node on PATH is refused the same way');
  });

  test('a connection without Node is a permanent failure that points at the setting', async () => {
    await assert.rejects(
      connectLocalBroker({
        extensionPath: ROOT, nodePathSetting: '', pathValue: '', dataDir: '/nonexistent/never-created', hubPort: 0,
        identity: generateUserIdentity(), hello: { name: 'x' }, launch: stdioLauncher(launched), log: () => undefined,
      }),
      (err: unknown) => err instanceof PermanentConnectError && err.remedy === 'openSettings',
    );
  });
});

describe('the local broker connection', () => {
  test('pins the DID from the data directory, and it is the broker\'s own', async () => {
    const local = await connectLocal({ launched });
    dirs.push(dirname(local.dataDir));
    const pinned = await readBrokerIdentity(local.cli, local.dataDir);
    assert.equal(local.session.brokerDid, pinned.did);
    assert.equal((await local.session.call('brokerInfo', {})).did, pinned.did);
    await local.close();
    assert.ok(launched.every((l) => l.child.exitCode !== null || l.child.signalCode !== null), 'close stops the broker process');
  });

  test('a second user key on the same data directory is invited as an admin by the host operator', async () => {
    const first = await connectLocal({ launched, name: 'first' });
    dirs.push(dirname(first.dataDir));
    assert.equal(first.session.role, 'owner');
    await first.close();
    const second = await connectLocal({ launched, dataDir: first.dataDir, name: 'second' });
    assert.equal(second.session.role, 'admin');
    assert.notEqual(second.session.user.did, first.session.user.did);
    await second.close();
    const again = await connectLocal({ launched, dataDir: first.dataDir, identity: first.identity });
    assert.equal(again.session.role, 'owner', 'the first key is still the owner');
    await again.close();
  });

  test('Owner race: a local process that reaches the hub\'s /rpc before the editor is refused; the editor\'s user is the owner', async () => {
    const stranger = SecretIdentity.generate(IdType.Person);
    let strangerGot = '';
    // The race as it was lost: the broker listens, and a local process completes a user handshake on the
    // hub's /rpc before the editor's own handshake on stdio.
    const racing: LaunchBroker = async (launch) => {
      const broker = await stdioLauncher(launched)(launch);
      const started = await launched.at(-1)!.log.waitFor('broker.started');
      strangerGot = await BrokerClient.connectRemote(String(started.url), String(started.did), stranger, { name: 'owner' }).then(
        (client) => {
          client.close();
          return `admitted as ${client.user?.role}`;
        },
        (err: Error) => err.message,
      );
      return broker;
    };
    const dataDir = join(tempDir('ext-race'), 'broker');
    dirs.push(dirname(dataDir));
    const local = await connectLocalBroker({ extensionPath: ROOT, nodePathSetting: process.execPath, dataDir, hubPort: 0, identity: generateUserIdentity(), hello: { name: 'developer' }, launch: racing, log: () => undefined });
    try {
      assert.match(strangerGot, /no owner yet: its first owner is enrolled on the broker host/);
      assert.equal(local.session.role, 'owner', 'the developer owns the broker the editor started');
      assert.equal(local.expectedRole, 'owner');
      const users = await local.session.call('usersList', {});
      assert.deepEqual(users.items.map((u) => [u.name, u.role]), [['developer', 'owner']], 'the stranger never became a user');
    } finally {
      await local.close();
    }
  });

  test('a demotion by the host operator is never silent: the session follows it, the message names the role and who set it, the status bar shows it', async () => {
    const local = await connectLocal({ launched, name: 'dev' });
    dirs.push(dirname(local.dataDir));
    const model = new LiveModel();
    await model.attach(local.session);
    const messages: string[] = [];
    const watch = watchOwnStanding(local.session, local.label, (did) => model.user(did)?.name, (message) => messages.push(`${message.warning ? 'warning' : 'info'}: ${message.text}`));
    try {
      const state: BrokerState = { kind: 'connected', connection: local, since: Date.now() };
      assert.doesNotMatch(statusText(state, model).text, /warning/);
      const run = await runBrokerCli(local.cli, ['set-role', local.session.user.did, 'admin', '--data-dir', local.dataDir]);
      assert.equal(run.code, 0, run.stderr);
      const operator = await waitFor('the host operator in the model', () => model.users().find((u) => u.name === 'local operator'));
      const text = await waitFor('the demotion message', () => messages[0]);
      assert.equal(text, `warning: VaultysClaw: your role on local broker is now admin (was owner), by local operator (${shortFingerprint(operator.did)}). What you can do changes at once.`);
      assert.equal(local.session.role, 'admin', 'menus follow the broker, not the handshake');
      await waitFor('the status bar to show the demotion', () => /· \$\(warning\) you are admin$/.test(statusText(state, model).text));
      assert.equal(statusText(state, model).warning, true);
      assert.match(statusText(state, model).tooltip, /Your role changed: you are admin, not owner/);
      assert.match(notOwnerMessage('admin', model.users(), local.session.user.did, local.dataDir) ?? '', /you are admin, not its owner; it is owned by local operator \([0-9A-F ]{19}\)/);
    } finally {
      watch.dispose();
      model.detach('test over');
      await local.close();
    }
  });

  test('a broker crash empties the model at once, and the supervisor restarts it with backoff', async () => {
    const dataDir = join(tempDir('ext-crash'), 'broker');
    dirs.push(dirname(dataDir));
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const identity = generateUserIdentity();
    const model = new LiveModel();
    const states: BrokerState[] = [];
    const supervisor = new BrokerSupervisor(() => connectLocal({ launched, dataDir, identity }), { backoff: () => 200, maxAttempts: 3 });
    supervisors.push(supervisor);
    supervisor.onDidChangeState((state) => {
      states.push(state);
      if (state.kind === 'connected') void model.attach(state.connection.session);
      else model.detach(state.kind === 'disconnected' ? state.reason : state.kind);
    });
    supervisor.start();
    const session = await supervisor.whenConnected(20_000);
    await waitFor('the model loaded', () => model.loaded);
    const info = await session.call('brokerInfo', {});
    const agent = await startAgent({ brokerUrl: info.hubUrl!, brokerDid: info.did, name: 'survivor' });
    agents.push(agent);
    dirs.push(agent.stateDir, agent.workspace);
    await waitFor('the agent pending', () => model.agent(agent.did)?.status === 'pending');
    assert.equal(statusText(supervisor.state, model).text, '$(shield) no agent online · 1 registration to review');

    const broker = launched[launched.length - 1]!;
    broker.child.kill('SIGKILL');
    const lost = await waitFor('the disconnection', () => states.find((s): s is BrokerState & { kind: 'disconnected' } => s.kind === 'disconnected'));
    assert.equal(lost.retryInMs, 200, 'a restart is scheduled with backoff');
    assert.match(lost.reason, /the local broker stopped|closed its channel/);
    assert.equal(model.connected, false);
    assert.deepEqual(agentsTree(model.agents(), Date.now()), [], 'nothing the dead broker said is shown');
    assert.match(statusText(lost, model).tooltip, /disconnected — .*retrying in 0 s/s);

    const back = await waitFor('the reconnection', () => (supervisor.state.kind === 'connected' && supervisor.session !== session ? supervisor.session : undefined), 20_000);
    assert.equal(back.user.did, identity.did, 'the restarted broker knows the same user');
    await waitFor('the model reloaded', () => model.loaded);
    // The registration survived the crash (it is in the broker's database), and is reloaded, not remembered.
    assert.equal(model.agent(agent.did)?.status, 'pending');
    assert.deepEqual(states.map((s) => s.kind).slice(0, 4), ['connecting', 'connected', 'disconnected', 'connecting']);
  });

  test('gives up after the bound and waits for an explicit restart', async () => {
    let calls = 0;
    const supervisor = new BrokerSupervisor(
      async () => {
        calls++;
        throw new Error('the local broker did not start');
      },
      { backoff: () => 10, maxAttempts: 3 },
    );
    supervisors.push(supervisor);
    supervisor.start();
    await assert.rejects(supervisor.whenConnected(5000), /gave up after 3 attempts/);
    assert.equal(calls, 3);
    const state = supervisor.state;
    assert.ok(state.kind === 'disconnected' && state.retryInMs === null);
    await supervisor.restart();
    await waitFor('a new attempt', () => calls >= 4);
  });

  test('a hub port already taken is refused before anything starts, with the setting to change', async () => {
    const server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    try {
      assert.equal(await portIsFree(port), false);
      await assert.rejects(
        connectLocalBroker({
          extensionPath: ROOT, nodePathSetting: process.execPath, dataDir: '/nonexistent/never-created', hubPort: port,
          identity: generateUserIdentity(), hello: { name: 'x' }, launch: stdioLauncher(launched), log: () => undefined,
        }),
        (err: unknown) => err instanceof PermanentConnectError && err.remedy === 'openSettings' && /port \d+ .* is in use .*vaultysclaw\.hubPort/.test(err.message),
      );
      assert.equal(launched.length, 0, 'no broker was launched');
    } finally {
      server.close();
    }
    assert.equal(await portIsFree(0), true);
  });

  test('backoff doubles from 1 s and stays under 30 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 10].map(backoffDelay), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});

describe('the audit log commands', () => {
  test('Verify Audit Log reports a clean log, then the first tampered line', async () => {
    const local = await connectLocal({ launched });
    dirs.push(dirname(local.dataDir));
    await local.session.call('invitationsCreate', { role: 'viewer' });
    await local.close();
    const file = join(local.dataDir, 'audit.log');
    const clean = await verifyAuditLogFile(local.cli, file, local.session.brokerDid);
    assert.equal(clean.ok, true, describeAuditVerdict(clean));
    assert.match(describeAuditVerdict(clean), /^Audit log verified: \d+ entries, [1-9]\d* signed checkpoints, pinned to did:vaultys:/);

    const lines = readFileSync(file, 'utf8').split('\n');
    const target = lines.findIndex((l) => l.includes('invitation.created'));
    assert.ok(target >= 0);
    lines[target] = lines[target]!.replace('"role":"viewer"', '"role":"owner"');
    writeFileSync(file, lines.join('\n'));
    const tampered = await verifyAuditLogFile(local.cli, file, local.session.brokerDid);
    assert.equal(tampered.ok, false);
    assert.equal(tampered.failure?.line, target + 1);
    assert.match(describeAuditVerdict(tampered), new RegExp(`^Audit log TAMPERED at line ${target + 1}`));

    const other = await verifyAuditLogFile(local.cli, file, `did:vaultys:00${'2'.repeat(38)}`);
    assert.equal(other.ok, false, 'checked against another broker DID, the checkpoints do not verify');
  });
});
