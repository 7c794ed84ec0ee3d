import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, removeDirs, tempDir } from '../support/processes';

test('npm start builds, starts a broker and a pinned local agent, approves it and prints a verified result', () => {
  const demo = tempDir('demo');
  try {
    const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'start.mjs'), '--smoke'], {
      encoding: 'utf8',
      env: { ...process.env, VAULTYSCLAW_DEMO_DIR: demo, VAULTYSCLAW_PORT: '0' },
      timeout: 90_000,
    });
    assert.equal(run.status, 0, `start.mjs failed:\n${run.stdout}\n${run.stderr}`);
    const json = run.stdout.slice(run.stdout.indexOf('{'), run.stdout.lastIndexOf('}') + 1);
    const intent = JSON.parse(json) as { state: string; output: { content: string }; signedIntent: unknown; signedResult: unknown };
    assert.equal(intent.state, 'succeeded');
    assert.equal(intent.output.content, 'Hello from the agent workspace.\n');
    assert.ok(intent.signedIntent && intent.signedResult, 'the intent and its result are both signed');
    assert.match(run.stderr, /agent authenticated/);
  } finally {
    removeDirs(demo);
  }
});
