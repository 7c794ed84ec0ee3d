import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, removeDirs, tempDir } from '../support/processes';

test('npm run cluster starts PostgreSQL, nats-server and three brokers, and an intent dispatched through node-2 runs on the agent connected to node-0', () => {
  const dir = tempDir('cluster-script');
  try {
    const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'cluster.mjs'), '--smoke'], {
      encoding: 'utf8',
      env: { ...process.env, VAULTYSCLAW_CLUSTER_DIR: dir, VAULTYSCLAW_PORT: '0' },
      timeout: 120_000,
    });
    assert.equal(run.status, 0, `cluster.mjs failed:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /dispatching read_file hello\.txt through node-2/);
    const json = run.stdout.slice(run.stdout.indexOf('{'), run.stdout.lastIndexOf('}') + 1);
    const intent = JSON.parse(json) as { state: string; output: { content: string }; signedIntent: unknown; signedResult: unknown };
    assert.equal(intent.state, 'succeeded');
    assert.equal(intent.output.content, 'Hello from a cluster of brokers.\n');
    assert.ok(intent.signedIntent && intent.signedResult, 'the intent and its result are both signed');
    // The agent authenticated on node-0 only: node-2 reached it over the bus.
    assert.match(run.stderr, /\[node-0\][^\n]*agent authenticated/);
    assert.doesNotMatch(run.stderr, /\[node-2\][^\n]*agent authenticated/);
  } finally {
    removeDirs(dir);
  }
});
