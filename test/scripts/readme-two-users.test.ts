import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, removeDirs, tempDir, waitFor } from '../support/processes';

/** The README's two-user block, exactly as written between its marker and the end of the code block. */
function readmeBlock(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('<!-- two-user-flow:');
  assert.ok(start >= 0, 'the README has a two-user-flow block');
  const open = readme.indexOf('```sh\n', start) + '```sh\n'.length;
  return readme.slice(open, readme.indexOf('```', open));
}

test("the README's two-user flow works as written: an operator's write waits for a reviewer, who approves it", async () => {
  const demo = tempDir('demo2');
  const env = { ...process.env, VAULTYSCLAW_DEMO_DIR: demo, VAULTYSCLAW_PORT: '0' };
  const start = spawn(process.execPath, [join(ROOT, 'scripts', 'start.mjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  start.stdout.on('data', (d: Buffer) => (output += d.toString()));
  start.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await waitFor('npm start to be running', () => output.includes('VaultysClaw is running') || (start.exitCode !== null && assert.fail(output)), 60_000, 100);
    assert.ok(existsSync(join(demo, 'env.sh')));
    const run = spawnSync('bash', ['-euo', 'pipefail', '-c', readmeBlock()], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, `the block failed:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /"state": "succeeded"/);
    const result = JSON.parse(readFileSync(join(demo, 'alice-result.json'), 'utf8')) as { state: string; user: string };
    assert.equal(result.state, 'succeeded');
    assert.equal(readFileSync(join(demo, 'workspace', 'reviewed.txt'), 'utf8'), 'approved by Bob\n');
    const audit = readFileSync(join(demo, 'broker', 'audit.log'), 'utf8');
    assert.match(audit, /"event":"approval\.requested"/, 'the broker audited the request');
    assert.match(audit, /"event":"approval\.decided"/, 'the broker audited the decision');
  } finally {
    start.kill('SIGINT');
    await waitFor('npm start to stop', () => start.exitCode !== null || start.signalCode !== null, 15_000, 100);
    removeDirs(demo);
  }
});
