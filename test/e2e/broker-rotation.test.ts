// Issue 9: the broker's online id rotates under an offline root, and agents follow without being touched.
// Real broker and agent processes on loopback; the root key lives in a temp dir outside the broker's
// data directory, as an operator would keep it. Attacker brokers run from a copy of the old id's files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { BrokerClient } from '../../broker/cli/broker-client';
import { AUTHORITY_FILE } from '../../broker/identity/authority-file';
import { IdType, open, SecretIdentity, VaultysId } from '../../core/identity';
import { verifyAuditLog } from '../../broker/audit/verify-audit-log';
import { approve, bounded, finalIntent } from '../attacks/support/fleet';
import { approveAgent, assertAgentRefused, assertSucceeded, auditLines, call, decisionParams, finalIntent as finalAs, joinAs, ownerOf, pendingApproval } from '../attacks/support/team';
import { ROOT, tempDir, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();
const started = new Started();
afterEach(() => started.cleanup());
after(() => started.cleanup());

const BROKER = join(ROOT, 'dist', 'broker.js');

function brokerCli(...args: string[]): string {
  const run = spawnSync(process.execPath, [BROKER, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`broker ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return run.stdout;
}

const identityOf = (dataDir: string) => JSON.parse(brokerCli('identity', '--no-create', '--json', '--data-dir', dataDir)) as { did: string; root: { did: string } | null };

/** A broker data directory with an identity certified by a fresh root whose key is kept elsewhere. */
function brokerWithRoot(validForSeconds?: number): { dataDir: string; rootKey: string; root: string } {
  const dataDir = tempDir('rot-broker');
  const vault = tempDir('rot-vault');
  started.dirs.push(dataDir, vault);
  const rootKey = join(vault, 'root.key');
  brokerCli('identity', '--data-dir', dataDir);
  brokerCli('identity', 'create-root', '--data-dir', dataDir, '--out', rootKey, ...(validForSeconds ? ['--valid-for', String(validForSeconds)] : []));
  return { dataDir, rootKey, root: identityOf(dataDir).root!.did };
}

/** The audit log verifies across the rotation, pinned to the id it started with, and records the one hand-over. */
function assertAuditHandedOver(dataDir: string, from: string, to: string): void {
  const report = verifyAuditLog(join(dataDir, 'audit.log'), { brokerDid: from, allowUnprotectedTail: true });
  assert.equal(report.ok, true, JSON.stringify(report.failure));
  assert.deepEqual(report.rotations.map((r) => [r.from, r.to]), [[from, to]]);
}

/** A running broker under a root, with one agent pinned to the root and approved for list_files. */
async function rootedBroker(): Promise<ReturnType<typeof brokerWithRoot> & { broker: BrokerProcess; agent: AgentProcess }> {
  const chain = brokerWithRoot();
  const broker = await started.broker({ dataDir: chain.dataDir });
  const agent = await started.agent({ brokerUrl: broker.url, brokerDid: chain.root, request: 'list_files' });
  await approve(broker, agent, ['list_files']);
  return { ...chain, broker, agent };
}

/** What an attacker who took the broker host before the rotation holds: the old key and its still-valid certificate. */
function stealIdentity(dataDir: string): string {
  const loot = tempDir('rot-attacker');
  started.dirs.push(loot);
  for (const file of ['broker.key', AUTHORITY_FILE]) copyFileSync(join(dataDir, file), join(loot, file));
  return loot;
}

async function listFiles(broker: BrokerProcess, agent: AgentProcess): Promise<void> {
  const sent = await bounded('dispatch', broker.client.call('intentsDispatch', { agent: agent.did, capability: 'list_files', params: { path: '.' } }));
  const final = await finalIntent(broker, sent.id);
  assert.equal(final.state, 'succeeded', `${agent.did}: ${final.reason}: ${final.message}`);
}

const pinFile = (agent: AgentProcess) => JSON.parse(readFileSync(join(agent.stateDir, 'broker-pin.json'), 'utf8')) as Record<string, unknown>;

/** The agent proves, on its running connection or a new one, that it now trusts `did` as its broker. */
const renewedWith = (agent: AgentProcess, did: string) => agent.log.waitFor('auth.succeeded', (l) => l.broker === did, 20_000);

async function refusedBy(agent: AgentProcess, pattern: RegExp): Promise<Record<string, unknown>> {
  const line = await agent.log.waitFor('auth.refused', undefined, 20_000);
  assert.equal(line.reason, 'peer-refused');
  assert.match(String(line.detail), pattern);
  assert.equal(agent.log.find('auth.succeeded'), undefined, 'the agent must not authenticate to this broker');
  return line;
}

describe('broker identity rotation', () => {
  test('planned rotation with 3 connected agents and 1 offline: the connected ones follow on their open connection, the offline one on its return', async () => {
    const { dataDir, rootKey, root } = brokerWithRoot();
    const broker = await started.broker({ dataDir });
    const agents = await Promise.all([1, 2, 3, 4].map((n) => started.agent({ brokerUrl: broker.url, brokerDid: root, name: `rot-${n}`, request: 'list_files' })));
    for (const agent of agents) await approve(broker, agent, ['list_files']);
    const [offline, ...connected] = [agents[3]!, agents[0]!, agents[1]!, agents[2]!];
    await offline.stop();
    for (const agent of connected) await listFiles(broker, agent);

    const oldDid = broker.did;
    const printed = brokerCli('identity', 'rotate', '--data-dir', dataDir, '--root', rootKey);
    const newDid = identityOf(dataDir).did;
    assert.notEqual(newDid, oldDid);
    assert.match(printed, new RegExp(`broker id is now ${newDid}; .*taken up by the running broker`));

    for (const agent of connected) {
      await renewedWith(agent, newDid);
      assert.equal(agent.child.exitCode, null, 'no agent restarts');
      assert.equal(agent.log.lines.filter((l) => l.event === 'hub.connected').length, 1, 'the same connection carries on');
      assert.deepEqual(pinFile(agent).supersededBrokers, [oldDid]);
      await listFiles(broker, agent);
    }
    const rotated = await broker.log.waitFor('identity.rotated');
    assert.equal(rotated.from, oldDid);
    assert.equal(rotated.to, newDid);
    assert.equal(rotated.serial, 2);
    assert.equal((await broker.log.waitFor('identity.announced')).agents, 3);
    assert.equal((await bounded('brokerInfo', broker.client.call('brokerInfo', {}))).did, newDid);

    const back = await started.agent({ brokerUrl: broker.url, brokerDid: root, stateDir: offline.stateDir, workspace: offline.workspace, name: 'rot-4', request: 'list_files' });
    await renewedWith(back, newDid);
    await listFiles(broker, back);
    assert.deepEqual(pinFile(back).supersededBrokers, [oldDid]);

    assertAuditHandedOver(dataDir, oldDid, newDid);
  });

  test('delegation certificates are re-issued under the new id; users pinning the root follow, users pinning the old id do not', async () => {
    const { dataDir, rootKey, root, broker, agent } = await rootedBroker();
    const owner = ownerOf(broker);
    const operator = await joinAs(broker, owner, 'operator', 'op');
    try {
      const grant = await call(owner, 'grantsCreate', { user: operator.did, agent: '*', capabilities: ['list_files'], validForMs: 60 * 60_000 });
      const before = await call(operator, 'intentsDispatch', { agent: agent.did, capability: 'list_files', params: { path: '.' } });
      assert.equal((await finalIntent(broker, before.id)).state, 'succeeded');
      const oldId = VaultysId.fromBase64((await call(owner, 'brokerInfo', {})).id);
      const envelope = (g: typeof grant) => ({ payload: new Uint8Array(Buffer.from(g.certificate.payload, 'base64')), signature: new Uint8Array(Buffer.from(g.certificate.signature, 'base64')) });
      assert.ok(open(oldId, 'vaultysclaw/delegation/v1', envelope(grant)).ok);

      brokerCli('identity', 'rotate', '--data-dir', dataDir, '--root', rootKey, '--grace', '0');
      const info = await call(owner, 'brokerInfo', {});
      const newId = VaultysId.fromBase64(info.id);
      assert.equal(info.root, root);
      assert.equal(info.certificate?.serial, 2);
      await renewedWith(agent, newId.did);
      assert.equal((await broker.log.waitFor('delegation.reissued')).count, 1);

      const reissued = (await call(owner, 'grantsList', {})).items.find((g) => g.id === grant.id)!;
      assert.ok(open(newId, 'vaultysclaw/delegation/v1', envelope(reissued)).ok, 'the grant is now signed by the new id');
      assert.equal(open(oldId, 'vaultysclaw/delegation/v1', envelope(reissued)).ok, false);
      assert.deepEqual(reissued.capabilities, grant.capabilities);
      assert.equal(reissued.expiresAt, grant.expiresAt);
      const afterRotation = await call(operator, 'intentsDispatch', { agent: agent.did, capability: 'list_files', params: { path: '.' } });
      assert.equal((await finalIntent(broker, afterRotation.id)).state, 'succeeded');

      // A user pinning the root reaches the rotated broker; one pinning the old broker id refuses it.
      const viaRoot = await bounded('root-pinned user', BrokerClient.connectRemote(broker.url, root, operator.identity, { name: 'op' }));
      assert.equal(viaRoot.user?.did, operator.did);
      viaRoot.close();
      await assert.rejects(bounded('old-pinned user', BrokerClient.connectRemote(broker.url, oldId.did, operator.identity, { name: 'op' })), /not the pinned/);
    } finally {
      operator.client.close();
    }
  });

  test('a tool call waiting for a reviewer across rotations: after a planned one it completes (grace), after a compromise it is refused (no grace)', async () => {
    const { dataDir, rootKey, root } = brokerWithRoot();
    const broker = await started.broker({ dataDir });
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: root, request: 'write_file' });
    const owner = ownerOf(broker);
    await approveAgent(owner, agent, { capabilities: ['write_file'], approvalRequired: ['write_file'] });
    const reviewer = await joinAs(broker, owner, 'reviewer', 'rev');
    const paused = async (path: string) => {
      const sent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path, content: 'x', mode: 'create' } });
      return pendingApproval(owner, sent.id);
    };
    const rotate = async (...flags: string[]) => {
      brokerCli('identity', 'rotate', '--data-dir', dataDir, '--root', rootKey, ...flags);
      await renewedWith(agent, identityOf(dataDir).did);
    };
    try {
      // Signed (intent and its per-intent delegation) by the first id, approved under the second.
      const planned = await paused('planned.txt');
      await rotate('--grace', '600');
      await call(reviewer, 'approvalsDecide', decisionParams(reviewer.identity, planned, 'approve'));
      assertSucceeded(await finalAs(owner, planned.intentId));
      assert.equal(readFileSync(join(agent.workspace, 'planned.txt'), 'utf8'), 'x');

      const compromised = await paused('compromised.txt');
      await rotate('--compromised');
      await call(reviewer, 'approvalsDecide', decisionParams(reviewer.identity, compromised, 'approve'));
      assertAgentRefused(await finalAs(owner, compromised.intentId), 'delegation-invalid', /replaced broker id .* grace period is over/);
      assert.equal(existsSync(join(agent.workspace, 'compromised.txt')), false);
    } finally {
      reviewer.client.close();
    }
  });

  test('rotation while the broker is stopped: the CLI writes the hand-over to the audit log, the broker re-signs its grants at start, agents follow on reconnect', async () => {
    const { dataDir, rootKey, broker: first, agent } = await rootedBroker();
    const owner = ownerOf(first);
    const grant = await call(owner, 'grantsCreate', { user: owner.did, agent: agent.did, capabilities: ['list_files'], validForMs: 60 * 60_000 });
    const oldDid = first.did;
    await first.stop();

    assert.match(brokerCli('identity', 'rotate', '--data-dir', dataDir, '--root', rootKey), /no broker running: taken up at its next start/);
    const newDid = identityOf(dataDir).did;
    const broker = await started.broker({ dataDir, port: Number(new URL(first.url).port) });
    assert.equal(broker.did, newDid);
    assert.equal((await broker.log.waitFor('delegation.reissued')).count, 1);
    const reissued = (await bounded('grantsList', broker.client.call('grantsList', {}))).items.find((g) => g.id === grant.id)!;
    const envelope = { payload: new Uint8Array(Buffer.from(reissued.certificate.payload, 'base64')), signature: new Uint8Array(Buffer.from(reissued.certificate.signature, 'base64')) };
    assert.ok(open(VaultysId.fromBase64((await bounded('brokerInfo', broker.client.call('brokerInfo', {}))).id), 'vaultysclaw/delegation/v1', envelope).ok);

    await renewedWith(agent, newDid);
    await listFiles(broker, agent);
    assertAuditHandedOver(dataDir, oldDid, newDid);
  });

  test('downgrade: after a rotation, a broker still holding the old id and its unexpired certificate is refused (superseded)', async () => {
    const { dataDir, rootKey, root, broker, agent } = await rootedBroker();
    const oldFiles = stealIdentity(dataDir);
    const oldDid = broker.did;
    brokerCli('identity', 'rotate', '--data-dir', dataDir, '--root', rootKey);
    await renewedWith(agent, identityOf(dataDir).did);
    await agent.stop();

    const old = await started.broker({ dataDir: oldFiles });
    assert.equal(old.did, oldDid);
    const again = await started.agent({ brokerUrl: old.url, brokerDid: root, stateDir: agent.stateDir, workspace: agent.workspace, request: 'list_files' });
    await refusedBy(again, new RegExp(`^superseded: broker id ${oldDid} was replaced by a rotation`));
    assert.equal(old.log.find('auth.succeeded', (l) => l.did === agent.did), undefined);
  });

  test('compromise: the root revokes the old id; an attacker broker holding the old key on another port is refused, also by an agent that was offline during the rotation', async () => {
    const { dataDir, rootKey, root } = brokerWithRoot();
    const loot = stealIdentity(dataDir);
    const broker = await started.broker({ dataDir });
    const oldDid = broker.did;
    const [online, offline] = await Promise.all(['seen', 'away'].map((name) => started.agent({ brokerUrl: broker.url, brokerDid: root, name, request: 'list_files' })));
    for (const agent of [online!, offline!]) await approve(broker, agent, ['list_files']);
    await offline!.stop();

    // Signed where the root lives: the request goes out, the certificate and the revocation come back.
    const request = join(dirname(rootKey), 'request.json');
    const signed = join(dirname(rootKey), 'signed.json');
    brokerCli('identity', 'rotate', '--data-dir', dataDir, '--request', request);
    assert.equal(identityOf(dataDir).did, oldDid, 'nothing changes before the root has signed');
    assert.match(brokerCli('identity', 'certify', request, '--root', rootKey, '--out', signed, '--compromised', '--reason', 'broker host breached'), new RegExp(`revoked ${oldDid}`));
    assert.match(brokerCli('identity', 'import', signed, '--data-dir', dataDir), /taken up by the running broker/);
    const newDid = identityOf(dataDir).did;
    await renewedWith(online!, newDid);
    assert.deepEqual(pinFile(online!).revokedBrokers, { [oldDid]: 'broker host breached' });
    await listFiles(broker, online!);

    const attacker = await started.broker({ dataDir: loot });
    assert.equal(attacker.did, oldDid, 'the attacker proves the old key, with its still unexpired root certificate');
    const revoked = new RegExp(`^revoked: broker id ${oldDid} is revoked by root ${root}: broker host breached`);

    await online!.stop();
    const lured = await started.agent({ brokerUrl: attacker.url, brokerDid: root, stateDir: online!.stateDir, workspace: online!.workspace, request: 'list_files' });
    await refusedBy(lured, revoked);

    // The agent that slept through it learns the revocation from the legitimate broker on its next connection…
    const back = await started.agent({ brokerUrl: broker.url, brokerDid: root, stateDir: offline!.stateDir, workspace: offline!.workspace, request: 'list_files' });
    await renewedWith(back, newDid);
    await back.log.waitFor('authority.learnt');
    await back.stop();
    // …and refuses the attacker from then on.
    const luredToo = await started.agent({ brokerUrl: attacker.url, brokerDid: root, stateDir: offline!.stateDir, workspace: offline!.workspace, request: 'list_files' });
    await refusedBy(luredToo, revoked);
    assert.equal(attacker.log.find('auth.succeeded', (l) => l.did === online!.did || l.did === offline!.did), undefined, 'no agent ever authenticated to the attacker');
    assert.ok(auditLines(dataDir).some((l) => l.event === 'identity.rotated' && l.from === oldDid && l.revocations === 1));
  });

  test('an expired root certificate is refused by agents pinning the root (expired); the broker says so in its log', async () => {
    const { dataDir, root } = brokerWithRoot(1);
    await new Promise((r) => setTimeout(r, 1500));
    const broker = await started.broker({ dataDir });
    await broker.log.waitFor('identity.certificate-expired');
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: root, request: 'list_files' });
    await refusedBy(agent, /^expired: broker certificate serial 1 expired at /);
  });

  test('a broker certified by another root is refused (wrong-root)', async () => {
    const { dataDir, root } = brokerWithRoot();
    const broker = await started.broker({ dataDir });
    const mine = SecretIdentity.generate(IdType.Organization).did;
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: mine, request: 'list_files' });
    await refusedBy(agent, new RegExp(`^wrong-root: the broker is certified by root ${root}, but this peer trusts root ${mine}`));
  });

  test('migration: an agent enrolled with the broker id moves its pin to the root over its authenticated connection, audited, then follows a rotation', async () => {
    const broker = await started.broker();
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'list_files' });
    await approve(broker, agent, ['list_files']);
    assert.equal(pinFile(agent).brokerDid, broker.did);

    const vault = tempDir('rot-vault');
    started.dirs.push(vault);
    const rootKey = join(vault, 'root.key');
    assert.match(brokerCli('identity', 'create-root', '--data-dir', broker.dataDir, '--out', rootKey), /taken up by the running broker/);
    const root = identityOf(broker.dataDir).root!.did;

    const migrated = await agent.log.waitFor('pin.migrated', undefined, 20_000);
    assert.equal(migrated.root, root);
    assert.equal(migrated.from, broker.did);
    assert.equal(pinFile(agent).brokerDid, root);
    assert.equal(pinFile(agent).migratedFrom, broker.did);
    const audited = await waitFor('the migration in the audit log', () => auditLines(broker.dataDir).find((l) => l.event === 'agent.pin-migrated' && l.did === agent.did));
    assert.equal(audited.root, root);

    brokerCli('identity', 'rotate', '--data-dir', broker.dataDir, '--root', rootKey);
    await renewedWith(agent, identityOf(broker.dataDir).did);
    await listFiles(broker, agent);
  });

  test('the broker refuses to run next to its root key unless told, and create-root will not put it there by default', async () => {
    const dataDir = tempDir('rot-broker');
    started.dirs.push(dataDir);
    brokerCli('identity', '--data-dir', dataDir);
    assert.throws(() => brokerCli('identity', 'create-root', '--data-dir', dataDir, '--out', join(dataDir, 'root.key')), /inside the broker's data directory/);
    brokerCli('identity', 'create-root', '--data-dir', dataDir, '--out', join(dataDir, 'root.key'), '--allow-in-data-dir');
    // Renamed, it is still found by what it holds.
    writeFileSync(join(dataDir, 'backup.txt'), readFileSync(join(dataDir, 'root.key')), { mode: 0o600 });
    const refused = spawnSync(process.execPath, [BROKER, 'start', '--data-dir', dataDir, '--port', '0'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /the root key of did:vaultys:02[0-9a-f]{38} is in the broker's data directory/);
    assert.match(refused.stderr, /backup\.txt/);
    assert.match(refused.stderr, /root\.key/);
    const allowed = await started.broker({ dataDir, args: ['--allow-root-key'] });
    assert.equal(allowed.did, identityOf(dataDir).did);
  });
});
