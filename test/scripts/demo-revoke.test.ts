// Issue 17, item 1: the README's last step revokes the demo's agent. The agent exits (registration ended); the demo
// must keep serving, and say how to enroll an agent again — and the commands it prints must work as printed.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, removeDirs, tempDir, waitFor } from '../support/processes';

const broker = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), ...args], { encoding: 'utf8', timeout: 30_000 });

test('npm start keeps running when its agent is revoked, prints the two commands that enroll one again, and they work', async () => {
  const demo = tempDir('demo-revoke');
  const brokerDir = join(demo, 'broker');
  const env = { ...process.env, VAULTYSCLAW_DEMO_DIR: demo, VAULTYSCLAW_PORT: '0' };
  const start = spawn(process.execPath, [join(ROOT, 'scripts', 'start.mjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  start.stdout.on('data', (d: Buffer) => (output += d.toString()));
  start.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let again: ChildProcess | undefined;
  try {
    await waitFor('npm start to be running', () => output.includes('VaultysClaw is running') || (start.exitCode !== null && assert.fail(output)), 60_000, 100);
    const agentDid = readFileSync(join(demo, 'agent-did'), 'utf8').trim();
    const revoked = broker(['revoke', agentDid, '--reason', 'the README says so', '--data-dir', brokerDir]);
    assert.equal(revoked.status, 0, revoked.stderr);

    await waitFor('the demo to say how to enroll again', () => /registration ended[\s\S]*agent\.js start [^\n]*\n/.test(output), 30_000, 100);
    assert.equal(start.exitCode, null, 'the demo keeps running');
    assert.equal(broker(['agents', '--data-dir', brokerDir]).status, 0, 'its broker still answers');
    const commands = output.split('\n').map((l) => l.trim()).filter((l) => /^node \S+agent\.js (init|start) /.test(l));
    assert.equal(commands.length, 2, output);
    assert.match(commands[0]!, /agent\.js init --state-dir \S+-[0-9a-z]+ --broker did:vaultys:/, 'a new state directory: the revoked key is refused for good');

    const [, ...initArgs] = commands[0]!.split(' ');
    const init = spawnSync(process.execPath, initArgs, { encoding: 'utf8', timeout: 30_000 });
    assert.equal(init.status, 0, init.stderr);
    const [, ...startArgs] = commands[1]!.split(' ');
    again = spawn(process.execPath, startArgs, { stdio: 'ignore' });
    const fresh = await waitFor('a new pending registration from the printed commands', () => {
      const list = broker(['agents', '--data-dir', brokerDir]);
      const agents = list.status === 0 ? (JSON.parse(list.stdout) as { did: string; status: string; online: boolean }[]) : [];
      return agents.find((a) => a.did !== agentDid && a.status === 'pending' && a.online);
    }, 30_000, 200);
    assert.notEqual(fresh.did, agentDid);
  } finally {
    if (again?.pid && again.exitCode === null) again.kill('SIGTERM');
    start.kill('SIGINT');
    await waitFor('npm start to stop', () => start.exitCode !== null || start.signalCode !== null, 15_000, 100);
    removeDirs(demo);
  }
});
