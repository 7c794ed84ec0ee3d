/**
 * Disk full and unwritable data directories, for broker and agent, without
 * mounting anything: a file-size limit set on the running process
 * (RLIMIT_FSIZE through prlimit: writes past it fail with EFBIG, as on a full
 * disk) and read-only directories (for root, started without
 * CAP_DAC_OVERRIDE through setpriv, so the permissions bind). Each failure is
 * one clear error to the caller and in the log, nothing runs that could not be
 * recorded, and once the disk is back nothing is corrupted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { AUDIT_LOG_FILE } from '../../broker/audit/chain';
import { allIntents, bounded, finalIntent } from '../attacks/support/fleet';
import { ROOT, tempDir, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

const CLI = { broker: join(ROOT, 'dist', 'broker.js'), agent: join(ROOT, 'dist', 'agent.js') };

/**
 * Caps the size any file of `pid` may grow to: the next write past it fails as on a full disk. Only the
 * soft limit moves, so it can be lifted again without CAP_SYS_RESOURCE.
 */
function limitFileSize(pid: number, bytes: number | 'unlimited'): void {
  const run = spawnSync('prlimit', ['--pid', String(pid), `--fsize=${bytes}:`], { encoding: 'utf8' });
  assert.equal(run.status, 0, `prlimit: ${run.stderr}`);
}

function largestFile(dir: string): number {
  return Math.max(...readdirSync(dir).map((f) => statSync(join(dir, f)).size));
}

/** `node <cli> <args>` unable to override file permissions, even as root (the way an unprivileged service runs). */
function runUnprivileged(cli: string, args: string[]) {
  const command = process.getuid?.() === 0
    ? ['setpriv', ['--inh-caps=-all', '--bounding-set=-dac_override,-dac_read_search,-fowner', process.execPath, cli, ...args]] as const
    : [process.execPath, [cli, ...args]] as const;
  return spawnSync(command[0], command[1], { encoding: 'utf8', timeout: 20_000 });
}

function integrity(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

function auditVerifies(broker: BrokerProcess): void {
  const verify = spawnSync(process.execPath, [CLI.broker, 'audit', 'verify', join(broker.dataDir, AUDIT_LOG_FILE), '--broker-did', broker.did, '--allow-unprotected-tail'], { encoding: 'utf8' });
  assert.equal(verify.status, 0, `audit verify: ${verify.stdout}${verify.stderr}`);
}

describe('disk full and unwritable directories', () => {
  const started = new Started();
  after(() => started.cleanup());
  let broker: BrokerProcess;
  let agent: AgentProcess;

  const dispatchWrite = (name: string) =>
    broker.client.call('intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: name, content: 'x', mode: 'create' } });

  test('setup: a broker and an approved agent', async () => {
    broker = await started.broker();
    agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did });
    await waitFor('the registration', async () => (await broker.client.call('registrationsList', {})).items.find((r) => r.did === agent.did && r.online));
    await broker.client.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['write_file', 'list_files'] } });
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
    assert.equal((await finalIntent(broker, (await dispatchWrite('before.txt')).id)).state, 'succeeded');
  });

  test('broker database full: a dispatch is refused with a clear storage error, nothing is sent, and once space is back it works and the database is intact', async () => {
    limitFileSize(broker.child.pid!, largestFile(broker.dataDir) + 4096);
    const mark = broker.log.lines.length;
    let refusal: Error | undefined;
    for (let i = 0; i < 20 && !refusal; i++) await dispatchWrite(`full-${i}.txt`).catch((err: Error) => (refusal = err));
    assert.ok(refusal, 'the database never filled up');
    assert.match(refusal.message, /the broker cannot write its data: .*(SQLITE_FULL|SQLITE_IOERR|EFBIG)/);
    const logged = await broker.log.waitFor('rpc.error', (l) => broker.log.lines.indexOf(l) >= mark);
    assert.match(String(logged.err), /disk|I\/O|full/i);
    assert.equal(broker.child.exitCode, null, 'the broker is still up');
    limitFileSize(broker.child.pid!, 'unlimited');

    // Nothing half-done reached the agent: every file it wrote belongs to an intent the broker recorded.
    const recorded = new Set((await allIntents(broker.client, agent.did)).map((v) => String(v.params.path)));
    for (const file of readdirSync(agent.workspace)) assert.ok(recorded.has(file), `${file} was written for an intent the broker has no record of`);
    assert.equal((await finalIntent(broker, (await dispatchWrite('after-db-full.txt')).id)).state, 'succeeded');
    assert.equal(integrity(join(broker.dataDir, 'broker.db')), 'ok');
    auditVerifies(broker);
  });

  test('agent database full: the intent fails with a signed, clear storage error and does not run; once space is back the agent runs the next one', async () => {
    limitFileSize(agent.child.pid!, largestFile(agent.stateDir) + 4096);
    let failed;
    for (let i = 0; i < 20 && !failed; i++) {
      const view = await finalIntent(broker, (await dispatchWrite(`agent-full-${i}.txt`)).id);
      if (view.state !== 'succeeded') failed = view;
    }
    assert.ok(failed, 'the agent database never filled up');
    assert.equal(failed.state, 'failed', `${failed.state} ${failed.reason}`);
    assert.match(failed.message ?? '', /the agent could not handle this intent: .*(SQLITE_FULL|SQLITE_IOERR|EFBIG)/);
    assert.ok(failed.signedResult, 'the refusal is signed by the agent');
    assert.equal(existsSync(join(agent.workspace, String(failed.params.path))), false, 'an intent that could not be recorded did not run');
    assert.ok(agent.log.find('intent.crashed', (l) => l.intentId === failed.id));
    limitFileSize(agent.child.pid!, 'unlimited');
    assert.equal((await finalIntent(broker, (await dispatchWrite('after-agent-full.txt')).id)).state, 'succeeded');
    assert.equal(agent.child.exitCode, null, 'the agent is still up');
  });

  test('broker audit log full: the broker stops with a clear message rather than act unaudited; restarted with space, its log verifies and its records are intact', async () => {
    const before = await allIntents(broker.client);
    limitFileSize(broker.child.pid!, statSync(join(broker.dataDir, AUDIT_LOG_FILE)).size + 200);
    const refused = await bounded('a dispatch the broker cannot audit', dispatchWrite('unaudited.txt'), 5000).then(() => undefined, (err: Error) => err);
    assert.match(refused?.message ?? '', /disposed|closed/, 'the call fails when the broker stops, it does not hang');
    await waitFor('the broker to stop', () => broker.child.exitCode !== null, 10_000);
    assert.equal(broker.child.exitCode, 70);
    assert.ok(
      broker.log.raw.some((l) => /audit log write failed.*EFBIG.*stopping: the broker does not act without its audit log/.test(l)),
      broker.log.raw.slice(-5).join('\n'),
    );
    const { dataDir, url } = broker;
    await broker.kill();
    broker = await started.broker({ dataDir, port: Number(new URL(url).port) });
    const after = await allIntents(broker.client);
    for (const view of before) assert.deepEqual(after.find((v) => v.id === view.id), view, `intent ${view.id} changed`);
    assert.equal(existsSync(join(agent.workspace, 'unaudited.txt')), false, 'nothing ran for the unaudited request');
    assert.equal(integrity(join(dataDir, 'broker.db')), 'ok');
    auditVerifies(broker);
  });

  test('unwritable data directory (broker) and state directory (agent): each refuses to start with one clear sentence, and starts again once writable, its data intact', async () => {
    const { dataDir, url } = broker;
    const intents = await allIntents(broker.client);
    await agent.stop();
    await broker.stop();
    for (const dir of [dataDir, agent.stateDir]) chmodSync(dir, 0o500);
    try {
      const b = runUnprivileged(CLI.broker, ['start', '--data-dir', dataDir, '--port', '0']);
      assert.equal(b.status, 1, b.stderr);
      assert.match(b.stderr, new RegExp(`^broker: cannot use the data directory ${dataDir}: permission denied \\(EACCES\\); it must be writable`));
      const a = runUnprivileged(CLI.agent, ['start', '--state-dir', agent.stateDir, '--broker-url', url, '--workspace', agent.workspace]);
      assert.equal(a.status, 1, a.stderr);
      assert.match(a.stderr, new RegExp(`agent: cannot use the state directory ${agent.stateDir}: the database cannot be written: .*SQLITE_(CANTOPEN|READONLY)`));
      const fresh = tempDir('ro-parent');
      started.dirs.push(fresh);
      chmodSync(fresh, 0o500);
      const c = runUnprivileged(CLI.broker, ['start', '--data-dir', join(fresh, 'data'), '--port', '0']);
      assert.match(c.stderr, /cannot use the data directory .*permission denied \(EACCES\)/);
    } finally {
      for (const dir of [dataDir, agent.stateDir]) chmodSync(dir, 0o700);
    }
    broker = await started.broker({ dataDir, port: Number(new URL(url).port) });
    assert.deepEqual(await allIntents(broker.client), intents);
    agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, stateDir: agent.stateDir, workspace: agent.workspace });
    await agent.log.waitFor('auth.succeeded');
    assert.equal((await finalIntent(broker, (await dispatchWrite('writable-again.txt')).id)).state, 'succeeded');
    auditVerifies(broker);
  });
});
