// Issue 21: a witness for the audit chain head. Real broker processes started with --witness, real agents that keep
// the broker's latest checkpoint, the built `broker audit verify --witness`: a log cut back after the fact verifies
// on its own (nothing in it says what was after its end) and is caught by any witness that saw further.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { AUDIT_HEAD_FILE } from '../../agent/store/audit-head-store';
import { approve, bounded, finalIntent } from '../attacks/support/fleet';
import { ROOT, tempDir, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();
const started = new Started();
afterEach(() => started.cleanup());
after(() => started.cleanup());

const BROKER = join(ROOT, 'dist', 'broker.js');
const UNDETECTABLE = 'truncation after the last checkpoint is undetectable without a witness';

function brokerCli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [BROKER, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function brokerCliOk(...args: string[]): string {
  const run = brokerCli(...args);
  if (run.status !== 0) throw new Error(`broker ${args.join(' ')} exited ${run.status}: ${run.stdout}${run.stderr}`);
  return run.stdout;
}

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
const parsed = (line: string) => JSON.parse(line) as Record<string, unknown>;

/** A directory standing for the other mount the operator keeps the witness on. */
function witnessFile(): string {
  const dir = tempDir('witness-mount');
  started.dirs.push(dir);
  return join(dir, 'checkpoints.jsonl');
}

/** audit.log cut back to end with the checkpoint at `seq` (a copy: what an intruder leaves behind). */
function cutAfter(dataDir: string, seq: number): string {
  const all = lines(join(dataDir, 'audit.log'));
  const end = all.findIndex((l) => parsed(l).seq === seq);
  assert.ok(end >= 0 && parsed(all[end]!).event === 'audit.checkpoint', `no checkpoint at seq ${seq}`);
  const dir = tempDir('cut-log');
  started.dirs.push(dir);
  const cut = join(dir, 'audit.log');
  writeFileSync(cut, `${all.slice(0, end + 1).join('\n')}\n`);
  return cut;
}

const checkpointSeqs = (dataDir: string) => lines(join(dataDir, 'audit.log')).map(parsed).filter((l) => l.event === 'audit.checkpoint').map((l) => Number(l.seq));

async function listFiles(broker: BrokerProcess, agent: AgentProcess, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const sent = await bounded('dispatch', broker.client.call('intentsDispatch', { agent: agent.did, capability: 'list_files', params: { path: '.' } }));
    const final = await finalIntent(broker, sent.id);
    assert.equal(final.state, 'succeeded', `${final.reason}: ${final.message}`);
  }
}

/**
 * Intents until a checkpoint after the handshake ("lines": every 100 entries) is written, then the wait for it to
 * reach the agent (at most one head per connection every few seconds), which keeps it.
 */
async function untilAgentHolds(broker: BrokerProcess, agent: AgentProcess, above: number): Promise<number> {
  const checkpointed = () => checkpointSeqs(broker.dataDir).some((seq) => seq > above + 1);
  for (let round = 0; round < 20 && !checkpointed(); round++) await listFiles(broker, agent, 5);
  assert.ok(checkpointed(), 'no checkpoint after 100 intents');
  const held = await agent.log.waitFor('audit-head.kept', (l) => Number(l.seq) > above, 15_000);
  return Number(held.seq);
}

describe('a witness for the audit log', () => {
  test('a broker started with --witness and its agents: a clean stop verifies against the witness; a log cut back verifies alone but fails "truncated" against the witness file and against an agent\'s head', async () => {
    const witness = witnessFile();
    const broker = await started.broker({ args: ['--witness', witness] });
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'list_files' });
    await waitFor(`${agent.did} pending and online`, async () => (await bounded('registrationsList', broker.client.call('registrationsList', {}))).items.find((x) => x.did === agent.did && x.online));
    await bounded('registrationsApprove', broker.client.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['list_files'], maxRequestsPerHour: 1000 } }));
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
    const held = await untilAgentHolds(broker, agent, 0);
    await agent.stop();
    await broker.stop();

    // Every checkpoint written while the broker ran, its exact bytes, the shutdown one (written at exit) last.
    const log = lines(join(broker.dataDir, 'audit.log'));
    const witnessed = lines(witness);
    assert.equal(statSync(witness).mode & 0o777, 0o600);
    assert.ok(witnessed.length >= 2, `witness holds ${witnessed.length} line(s)`);
    for (const line of witnessed) assert.ok(log.includes(line), `not a line of audit.log: ${line}`);
    assert.ok(witnessed.every((l) => parsed(l).event === 'audit.checkpoint'));
    assert.equal(witnessed.at(-1), log.at(-1));
    const last = parsed(log.at(-1)!);
    assert.equal(last.reason, 'shutdown');
    const lastSeq = Number(last.seq);

    const auditLog = join(broker.dataDir, 'audit.log');
    const whole = brokerCli('audit', 'verify', auditLog, '--broker-did', broker.did, '--witness', witness);
    assert.equal(whole.status, 0, whole.stdout + whole.stderr);
    assert.match(whole.stdout, new RegExp(`witnessed up to seq ${lastSeq} \\(${witness}:${witnessed.length},`));

    // The agent kept a checkpoint it was sent after its handshake, signed by the broker it authenticated.
    const headFile = join(agent.stateDir, AUDIT_HEAD_FILE);
    const heads = lines(headFile);
    assert.equal(heads.length, 1);
    assert.equal(statSync(headFile).mode & 0o777, 0o600);
    assert.deepEqual([parsed(heads[0]!).seq, parsed(heads[0]!).broker], [held, broker.did]);
    assert.ok(log.includes(heads[0]!), "the agent's head is a line of audit.log");

    // Cut back to the last checkpoint before the one the agent holds: a log that ends signed, as an intruder leaves it.
    const cutSeq = checkpointSeqs(broker.dataDir).filter((s) => s < held).at(-1)!;
    const cut = cutAfter(broker.dataDir, cutSeq);
    const alone = brokerCli('audit', 'verify', cut, '--broker-did', broker.did);
    assert.equal(alone.status, 0, alone.stdout + alone.stderr);
    assert.ok(alone.stdout.includes(UNDETECTABLE), alone.stdout);
    const aloneJson = JSON.parse(brokerCli('audit', 'verify', cut, '--broker-did', broker.did, '--json').stdout) as { ok: boolean; truncation: string; witness: unknown };
    assert.deepEqual([aloneJson.ok, aloneJson.truncation, aloneJson.witness], [true, UNDETECTABLE, null]);

    const caught = brokerCli('audit', 'verify', cut, '--broker-did', broker.did, '--witness', witness);
    assert.equal(caught.status, 1, caught.stdout);
    assert.match(caught.stdout, new RegExp(`TAMPERED at line \\d+ \\(seq ${lastSeq}\\): truncated: ${witness}:${witnessed.length} witnessed the checkpoint at seq ${lastSeq}.*the log ends at seq ${cutSeq}`));
    const caughtJson = JSON.parse(brokerCli('audit', 'verify', cut, '--broker-did', broker.did, '--witness', witness, '--json').stdout) as { ok: boolean; failure: { reason: string; seq: number } };
    assert.deepEqual([caughtJson.ok, caughtJson.failure.reason, caughtJson.failure.seq], [false, 'truncated', lastSeq]);

    const byAgent = brokerCli('audit', 'verify', cut, '--broker-did', broker.did, '--witness', headFile);
    assert.equal(byAgent.status, 1, byAgent.stdout);
    assert.match(byAgent.stdout, new RegExp(`\\(seq ${held}\\): truncated: ${headFile}:1 witnessed the checkpoint at seq ${held}`));

    // A witness line whose signature was tampered with is reported and never trusted: alone, it proves nothing.
    const forged = join(tempDir('forged-witness'), 'forged.jsonl');
    started.dirs.push(join(forged, '..'));
    const tampered = parsed(witnessed.at(-1)!);
    const signature = String(tampered.signature);
    tampered.signature = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    writeFileSync(forged, `${JSON.stringify(tampered)}\n`);
    const untrusted = brokerCli('audit', 'verify', cut, '--broker-did', broker.did, '--witness', forged);
    assert.equal(untrusted.status, 0, untrusted.stdout);
    assert.match(untrusted.stdout, new RegExp(`witness line ${forged}:1 NOT TRUSTED: the signature does not verify`));
    assert.match(untrusted.stdout, /no checkpoint of this log's signers in it/);
  });

  test('across a rotation (broker identity rotate): the witness holds both keys\' checkpoints and catches a cut on either side of the hand-over', async () => {
    const dataDir = tempDir('rot-broker');
    const vault = tempDir('rot-vault');
    started.dirs.push(dataDir, vault);
    const rootKey = join(vault, 'root.key');
    brokerCliOk('identity', '--data-dir', dataDir);
    brokerCliOk('identity', 'create-root', '--data-dir', dataDir, '--out', rootKey);
    const identity = () => JSON.parse(brokerCliOk('identity', '--no-create', '--json', '--data-dir', dataDir)) as { did: string; root: { did: string } };
    const { did: oldDid, root } = { did: identity().did, root: identity().root.did };

    const witness = witnessFile();
    const broker = await started.broker({ dataDir, args: ['--witness', witness] });
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: root, request: 'list_files' });
    await approve(broker, agent, ['list_files']);
    await listFiles(broker, agent, 3);
    brokerCliOk('identity', 'rotate', '--data-dir', dataDir, '--root', rootKey);
    const newDid = identity().did;
    await agent.log.waitFor('auth.succeeded', (l) => l.broker === newDid, 20_000);
    await listFiles(broker, agent, 3);
    await agent.stop();
    await broker.stop();

    const signers = lines(witness).map((l) => [parsed(l).reason, parsed(l).broker]);
    assert.deepEqual(signers.filter(([reason]) => reason === 'rotation'), [['rotation', oldDid]]);
    assert.deepEqual(signers.at(-1), ['shutdown', newDid]);
    const auditLog = join(dataDir, 'audit.log');
    const lastSeq = Number(parsed(lines(auditLog).at(-1)!).seq);
    const whole = brokerCli('audit', 'verify', auditLog, '--root', root, '--witness', witness);
    assert.equal(whole.status, 0, whole.stdout + whole.stderr);
    assert.match(whole.stdout, new RegExp(`witnessed up to seq ${lastSeq} `));

    const rotationSeq = Number(lines(witness).map(parsed).find((l) => l.reason === 'rotation')!.seq);
    // Cut after the hand-over: the new key's shutdown checkpoint is trusted because the log itself hands over to it.
    const afterHandOver = brokerCli('audit', 'verify', cutAfter(dataDir, rotationSeq), '--broker-did', oldDid, '--witness', witness);
    assert.equal(afterHandOver.status, 1, afterHandOver.stdout);
    assert.match(afterHandOver.stdout, new RegExp(`\\(seq ${lastSeq}\\): truncated: .*signed by ${newDid}`));
    // Cut before it: the old key's own rotation checkpoint is missing.
    const beforeSeq = checkpointSeqs(dataDir).filter((s) => s < rotationSeq).at(-1)!;
    const beforeHandOver = brokerCli('audit', 'verify', cutAfter(dataDir, beforeSeq), '--broker-did', oldDid, '--witness', witness);
    assert.equal(beforeHandOver.status, 1, beforeHandOver.stdout);
    assert.match(beforeHandOver.stdout, new RegExp(`\\(seq ${rotationSeq}\\): truncated: .*signed by ${oldDid}`));
    assert.match(beforeHandOver.stdout, new RegExp(`witness line .* NOT TRUSTED: signed by ${newDid}, which signs none of this log's checkpoints`), 'the new key is not trusted by a log that never hands over to it');
  });
});
