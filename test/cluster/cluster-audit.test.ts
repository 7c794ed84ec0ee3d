// Issue 20: one hash-chained audit.log per node, each naming its node in its signed checkpoints, and
// `broker audit verify` over all of a cluster's logs. The logs are those of three real broker processes on one
// PostgreSQL and one nats-server, stopped cleanly (each ends with its shutdown checkpoint); every tampering is
// done on copies, and each refusal must name the log and the line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AUDIT_LOG_FILE } from '../../broker/audit/chain';
import { verifyClusterLogs, type ClusterLogReport } from '../../broker/audit/verify-cluster-logs';
import { closeBrokerLogger, createBrokerLogger } from '../../broker/log';
import { IdType, readKeyFile, SecretIdentity } from '../../core/identity';
import { approveAgent, assertSucceeded, call, finalIntent, ownerOf } from '../attacks/support/team';
import { startCluster, type Cluster } from '../support/cluster';
import { ROOT, tempDir, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

const NODES = ['node-0', 'node-1', 'node-2'];
const CLUSTER = 'vaultysclaw';

describe("a cluster's audit logs, verified together", () => {
  const started = new Started();
  let cluster: Cluster;
  let nodes: BrokerProcess[];
  let agent: AgentProcess;
  let work: string;
  /** The three nodes' logs as they left them, in node order. */
  let logs: string[];
  /** One --witness file for the three nodes (an off-host share): every node appends its checkpoints to it. */
  let witness: string;

  /** A copy of node i's log to tamper with. */
  const copyOf = (i: number, name = `copy-${i}-${Math.random().toString(16).slice(2)}.log`) => {
    const file = join(work, name);
    copyFileSync(logs[i]!, file);
    return file;
  };
  /** The index of the last checkpoint line before `before`, or -1. */
  const checkpointBefore = (text: string[], before: number) => {
    for (let i = before - 1; i >= 0; i--) if (text[i]!.includes('"event":"audit.checkpoint"')) return i;
    return -1;
  };
  const lines = (file: string) => readFileSync(file, 'utf8').split('\n').slice(0, -1);
  const parsed = (file: string) => lines(file).map((l) => JSON.parse(l) as Record<string, unknown>);
  /** The first refusal among the reports: which log, and why. */
  const refusal = (results: ClusterLogReport[]) => {
    const failed = results.filter((r) => !r.report.ok);
    assert.equal(failed.length, 1, `exactly one log refused: ${JSON.stringify(results.map((r) => [r.file, r.report.failure]))}`);
    return { file: failed[0]!.file, ...failed[0]!.report.failure! };
  };
  /** A log of one node written in-process by createBrokerLogger, as a broker under `identity` would leave it. */
  const foreignLog = (identity: SecretIdentity, node: { node: string; cluster: string } | undefined) => {
    const dir = tempDir('foreign-node');
    started.dirs.push(dir);
    const log = createBrokerLogger(dir, identity, 'info', undefined, node);
    log.info({ event: 'broker.started', did: identity.did }, 'broker started');
    closeBrokerLogger(log);
    return join(dir, AUDIT_LOG_FILE);
  };

  before(async () => {
    work = tempDir('cluster-audit');
    started.dirs.push(work);
    witness = join(work, 'witness.jsonl');
    cluster = await startCluster(started, { nodes: 3, args: ['--witness', witness] });
    nodes = cluster.nodes;
    const [a, b, c] = nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    // Work spread over the nodes, so each log records its part: approved on B, dispatched from A, run on C.
    agent = await started.agent({ brokerUrl: c.url, brokerDid: c.did, name: 'on-c' });
    await approveAgent({ ...ownerOf(a), client: b.client }, agent, { capabilities: ['list_files'] });
    const sent = await call(ownerOf(a), 'intentsDispatch', { agent: agent.did, capability: 'list_files', params: { path: '.' } });
    assertSucceeded(await finalIntent(ownerOf(a), sent.id, 20_000));
    await agent.stop();
    // Stopped cleanly: each log ends with its shutdown checkpoint, so nothing in it is unsigned.
    for (const node of nodes) await node.stop();
    logs = nodes.map((n) => join(n.dataDir, AUDIT_LOG_FILE));
  });
  after(async () => {
    await started.cleanup();
    await cluster?.stop();
  });

  test("every node's log verifies, each naming its own node of the one cluster in every checkpoint, signed by the one broker id", () => {
    const results = verifyClusterLogs(logs);
    for (const [i, { report }] of results.entries()) {
      assert.equal(report.ok, true, `${logs[i]}: ${JSON.stringify(report.failure)}`);
      assert.equal(report.node?.name, NODES[i]);
      assert.equal(report.node?.cluster, CLUSTER);
      assert.equal(report.brokerDid, nodes[0]!.did);
      assert.ok(report.checkpoints >= 2, 'a start and a shutdown checkpoint at least');
      for (const checkpoint of parsed(logs[i]!).filter((l) => l.event === 'audit.checkpoint')) assert.equal(checkpoint.node, NODES[i]);
    }
  });

  test('broker audit verify takes the three logs: exit 0, and one report per log naming its node', () => {
    const run = spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), 'audit', 'verify', ...logs, '--json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const reports = JSON.parse(run.stdout) as { file: string; ok: boolean; node: { name: string } }[];
    assert.deepEqual(reports.map((r) => [r.file, r.ok, r.node.name]), logs.map((file, i) => [file, true, NODES[i]]));
  });

  test("a line edited in node-1's log: that log is refused at that line, the others verify", () => {
    const edited = copyOf(1);
    const text = lines(edited);
    const at = text.findIndex((l) => !l.includes('audit.checkpoint') && l.includes('"level":30'));
    assert.ok(at > 0);
    text[at] = text[at]!.replace('"level":30', '"level":40');
    writeFileSync(edited, `${text.join('\n')}\n`);
    const { file, line, reason } = refusal(verifyClusterLogs([logs[0]!, edited, logs[2]!]));
    assert.deepEqual([file, line, reason], [edited, at + 1, 'edited']);
  });

  test("node-2's log truncated after an unsigned entry: refused at the first entry no checkpoint covers any longer", () => {
    const cut = copyOf(2);
    const text = lines(cut);
    const earlier = checkpointBefore(text, checkpointBefore(text, text.length) - 1);
    // Keep everything up to two entries after an earlier checkpoint: those two now stand unsigned at the end.
    assert.ok(earlier >= 0 && earlier + 3 < checkpointBefore(text, text.length), 'a checkpoint with entries after it before the last one');
    writeFileSync(cut, `${text.slice(0, earlier + 3).join('\n')}\n`);
    const run = spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), 'audit', 'verify', logs[0]!, logs[1]!, cut], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 1);
    assert.match(run.stdout, new RegExp(`${cut}: NOT VERIFIED at line ${earlier + 2} \\(seq ${earlier + 1}\\): unprotected tail`));
    assert.match(run.stdout, new RegExp(`${logs[0]}: OK`));
  });

  test("node-2's log cut back to an earlier checkpoint: the witness file the three nodes share proves it, and node-2's checkpoints in it do not count against the other logs", () => {
    const witnessed = parsed(witness).filter((l) => l.event === 'audit.checkpoint');
    assert.deepEqual(new Set(witnessed.map((c) => c.node)), new Set(NODES), 'every node appended its checkpoints to the one witness file');
    const intact = spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), 'audit', 'verify', ...logs, '--witness', witness, '--json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(intact.status, 0, intact.stdout + intact.stderr);
    const reports = JSON.parse(intact.stdout) as { witness: { witnessedSeq: number | null; refused: unknown[] } }[];
    for (const [i, report] of reports.entries()) {
      const own = witnessed.filter((c) => c.node === NODES[i]).map((c) => c.seq as number);
      assert.equal(report.witness.witnessedSeq, Math.max(...own), `${NODES[i]}: witnessed up to its own last checkpoint`);
      assert.equal(report.witness.refused.length, witnessed.length - own.length, "the other nodes' checkpoints are not trusted for this log");
    }

    const cut = copyOf(2);
    const text = lines(cut);
    const before = checkpointBefore(text, checkpointBefore(text, text.length));
    assert.ok(before >= 0, 'a checkpoint before the last one');
    writeFileSync(cut, `${text.slice(0, before + 1).join('\n')}\n`);
    const run = spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), 'audit', 'verify', logs[0]!, logs[1]!, cut, '--witness', witness], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 1);
    assert.match(run.stdout, new RegExp(`${cut}: TAMPERED at line ${before + 1} \\(seq \\d+\\): truncated`));
    assert.match(run.stdout, new RegExp(`${logs[0]}: OK`));
  });

  test("two logs claiming one node (node-0's log copied in place of node-1's): the second is refused at its first named checkpoint", () => {
    const standIn = copyOf(0);
    const { file, line, reason, detail } = refusal(verifyClusterLogs([logs[0]!, standIn, logs[2]!]));
    const firstNamed = parsed(standIn).findIndex((l) => l.event === 'audit.checkpoint' && l.node === 'node-0') + 1;
    assert.deepEqual([file, line, reason], [standIn, firstNamed, 'duplicate node']);
    assert.match(detail, new RegExp(`node node-0, as ${logs[0]}`));
  });

  test('a log of another broker id, named as a fourth node of this cluster: refused at its first checkpoint as another broker', () => {
    const foreign = foreignLog(SecretIdentity.generate(IdType.Machine), { node: 'node-3', cluster: CLUSTER });
    const { file, line, reason } = refusal(verifyClusterLogs([...logs, foreign]));
    assert.deepEqual([file, line, reason], [foreign, 1, 'another broker']);
  });

  test("a log of another cluster, even under this cluster's broker id, and a single broker's unnamed log: each refused at its first checkpoint", () => {
    const key = readKeyFile(join(nodes[0]!.dataDir, 'broker.key'));
    const elsewhere = foreignLog(key, { node: 'node-3', cluster: 'elsewhere' });
    const other = refusal(verifyClusterLogs([...logs, elsewhere]));
    assert.deepEqual([other.file, other.line, other.reason], [elsewhere, 1, 'another cluster']);
    const unnamed = foreignLog(key, undefined);
    const single = refusal(verifyClusterLogs([...logs, unnamed]));
    assert.deepEqual([single.file, single.line, single.reason], [unnamed, 1, 'unnamed node']);
  });

  test("node-1's data directory started as node-0: refused before anything is written, naming whose log it is", () => {
    const before = readFileSync(logs[1]!);
    assert.throws(
      () => createBrokerLogger(nodes[1]!.dataDir, readKeyFile(join(nodes[1]!.dataDir, 'broker.key')), 'info', undefined, { node: 'node-0', cluster: CLUSTER }),
      /is the audit log of node node-1 of cluster vaultysclaw, not of node node-0/,
    );
    assert.deepEqual(readFileSync(logs[1]!), before);
  });
});
