// Issue 20: the one online id of a cluster rotates on one node and the others adopt it (`broker identity adopt`
// with the files that node now holds). Three real broker processes on one PostgreSQL and one nats-server, under an
// offline root whose key lives outside every data directory; agents pin the root and sit on different nodes. The
// grants are re-signed once: a node still on the old files (restarted before the operator reached it) must not
// put its old signature back over the new one, or every agent that already follows the new id refuses the grant.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BrokerClient } from '../../broker/cli/broker-client';
import { AUDIT_LOG_FILE } from '../../broker/audit/chain';
import { verifyClusterLogs } from '../../broker/audit/verify-cluster-logs';
import { RootAnchor } from '../../broker/audit/root-anchor';
import { readAuthority } from '../../broker/identity/authority-file';
import { open, VaultysId } from '../../core/identity';
import { writeFileSync } from 'node:fs';
import { approveAgent, assertSucceeded, call, finalIntent, joinAs, ownerOf, type Member } from '../attacks/support/team';
import { bounded } from '../attacks/support/fleet';
import { startCluster, type Cluster } from '../support/cluster';
import { ROOT, tempDir, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

const BROKER = join(ROOT, 'dist', 'broker.js');

function brokerCli(...args: string[]): string {
  const run = spawnSync(process.execPath, [BROKER, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`broker ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return run.stdout;
}

describe('rotating the online id of a three-node cluster', () => {
  const started = new Started();
  let cluster: Cluster;
  let nodes: BrokerProcess[];
  let root: string;
  let rootKey: string;
  let agents: AgentProcess[];
  let alice: Member;
  let grantId: string;
  const owner = () => ownerOf(nodes[0]!);

  /** The grant's certificate as the database holds it, read through `node`. */
  const grantCertificate = async (node: BrokerProcess) => {
    const grant = (await call(node.client, 'grantsList', {})).items.find((g) => g.id === grantId)!;
    return { payload: new Uint8Array(Buffer.from(grant.certificate.payload, 'base64')), signature: new Uint8Array(Buffer.from(grant.certificate.signature, 'base64')) };
  };
  const signedBy = async (node: BrokerProcess, did: string) => {
    const info = await call(node.client, 'brokerInfo', {});
    assert.equal(info.did, did, `${node.dataDir} signs as ${info.did}`);
    return open(VaultysId.fromBase64(info.id), 'vaultysclaw/delegation/v1', await grantCertificate(node)).ok;
  };
  /** Alice (operator, one grant for read_file on every agent) connects to each node pinning the root, and reads a file on every agent through it. */
  const dispatchThroughEveryNode = async () => {
    for (const node of nodes) {
      const client = await bounded('alice connects', BrokerClient.connectRemote(node.url, root, alice.identity, { name: 'alice' }));
      try {
        for (const agent of agents) {
          const sent = await call(client, 'intentsDispatch', { agent: agent.did, capability: 'read_file', params: { path: 'note.txt' } });
          assertSucceeded(await finalIntent(client, sent.id, 20_000));
        }
      } finally {
        client.close();
      }
    }
  };
  const reissuedCount = (node: BrokerProcess) => node.log.lines.filter((l) => l.event === 'delegation.reissued').length;

  before(async () => {
    const firstDataDir = tempDir('rot-node');
    const vault = tempDir('rot-vault');
    started.dirs.push(vault);
    rootKey = join(vault, 'root.key');
    brokerCli('identity', '--data-dir', firstDataDir);
    brokerCli('identity', 'create-root', '--data-dir', firstDataDir, '--out', rootKey);
    root = (JSON.parse(brokerCli('identity', '--no-create', '--json', '--data-dir', firstDataDir)) as { root: { did: string } }).root.did;
    cluster = await startCluster(started, { nodes: 3, firstDataDir });
    nodes = cluster.nodes;
    // Agents on A and on B, pinning the root; approved from C.
    agents = [];
    for (const [i, node] of nodes.slice(0, 2).entries()) {
      const agent = await started.agent({ brokerUrl: node.url, brokerDid: root, name: `on-${i}`, request: 'read_file' });
      await approveAgent({ ...owner(), client: nodes[2]!.client }, agent, { capabilities: ['read_file'] });
      writeFileSync(join(agent.workspace, 'note.txt'), 'rotated\n');
      agents.push(agent);
    }
    alice = await joinAs(nodes[0]!, owner(), 'operator', 'alice');
    grantId = (await call(owner(), 'grantsCreate', { user: alice.did, agent: '*', capabilities: ['read_file'], validForMs: 3_600_000 })).id;
    await dispatchThroughEveryNode();
  });
  after(async () => {
    alice?.client.close();
    await started.cleanup();
    await cluster?.stop();
  });

  test('planned rotation (no grace) on node A, node C restarted on its old files, then adopted on B and C: the grant is re-signed once and never back, every node signs as the new id, and every node dispatches to every agent', async () => {
    const [a, b] = nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    const oldDid = a.did;
    brokerCli('identity', 'rotate', '--data-dir', a.dataDir, '--root', rootKey, '--grace', '0');
    const newDid = (JSON.parse(brokerCli('identity', '--no-create', '--json', '--data-dir', a.dataDir)) as { did: string }).did;
    assert.notEqual(newDid, oldDid);
    assert.equal((await a.log.waitFor('delegation.reissued')).count, 1);
    assert.ok(await signedBy(a, newDid), 'node A re-signed the grant under the new id');

    // The operator has not reached C yet, and C restarts: on its old files, it still signs as the old id.
    await nodes[2]!.stop();
    const c = await started.broker({ dataDir: nodes[2]!.dataDir, args: cluster.nodeArgs('node-2') });
    nodes[2] = c;
    assert.equal(c.did, oldDid);
    assert.equal(reissuedCount(c), 0, 'C, on the old id, re-signs nothing');
    assert.equal(open(VaultysId.fromBase64((await call(a.client, 'brokerInfo', {})).id), 'vaultysclaw/delegation/v1', await grantCertificate(c)).ok, true, "the grant still carries A's new signature");

    for (const node of [b, c]) {
      const printed = brokerCli('identity', 'adopt', a.dataDir, '--data-dir', node.dataDir);
      assert.match(printed, new RegExp(`broker id is now ${newDid}; .*taken up by the running broker`));
    }
    for (const node of nodes) assert.ok(await signedBy(node, newDid));
    assert.deepEqual([reissuedCount(b), reissuedCount(c)], [0, 0], 'the grant was re-signed once, by A');
    for (const agent of agents) await agent.log.waitFor('auth.succeeded', (l) => l.broker === newDid, 20_000);
    await dispatchThroughEveryNode();
  });

  test('compromise: node B rotates with --compromised (the old id revoked, no grace), A and C adopt; agents on every node follow, every node dispatches, and the three audit logs verify anchored to the root', async () => {
    const [a, b, c] = nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    const oldDid = (await call(b.client, 'brokerInfo', {})).did;
    brokerCli('identity', 'rotate', '--data-dir', b.dataDir, '--root', rootKey, '--compromised', '--reason', 'cluster test');
    const newDid = (JSON.parse(brokerCli('identity', '--no-create', '--json', '--data-dir', b.dataDir)) as { did: string }).did;
    for (const node of [a, c]) brokerCli('identity', 'adopt', b.dataDir, '--data-dir', node.dataDir);
    for (const node of nodes) {
      assert.ok(await signedBy(node, newDid));
      assert.equal(readAuthority(node.dataDir)!.revocations.length, 1, `${node.dataDir} holds the root's revocation of ${oldDid}`);
    }
    for (const agent of agents) await agent.log.waitFor('auth.succeeded', (l) => l.broker === newDid, 20_000);
    await dispatchThroughEveryNode();

    // Stopped, each log ends with a checkpoint of the new id (a running node's ends with the hand-over until its next one).
    for (const node of nodes) await node.stop();
    const results = verifyClusterLogs(
      nodes.map((n) => join(n.dataDir, AUDIT_LOG_FILE)),
      () => {
        const anchor = new RootAnchor(root, Date.now());
        const authority = readAuthority(b.dataDir)!;
        anchor.offerRoot(VaultysId.fromBytes(authority.root));
        anchor.addCertificate(authority.certificate);
        authority.revocations.forEach((r) => anchor.addRevocation(r));
        return { anchor };
      },
    );
    for (const { file, report } of results) {
      assert.equal(report.ok, true, `${file}: ${JSON.stringify(report.failure)}`);
      assert.equal(report.rotations.at(-1)?.to, newDid);
    }
  });
});
