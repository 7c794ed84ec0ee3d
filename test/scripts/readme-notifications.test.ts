// The README's Notifications section works as written: its shell block (a key, the receiver, a broker with
// --notify-url) and its receiver.ts, run from the project root; a real agent registering reaches the receiver as a
// verified notification, and a request with a forged signature is answered 401 by the receiver's own check.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { signNotification } from '../../core/ops/notification-signature';
import { freePort } from '../support/code-server';
import { removeDirs, ROOT, startAgent, tempDir, waitFor, type AgentProcess } from '../support/processes';

/** The README's code block of `lang` after `marker`, exactly as written. */
function readmeBlock(marker: string, lang: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(marker);
  assert.ok(start >= 0, `the README has ${marker}`);
  const open = readme.indexOf(`\`\`\`${lang}\n`, start) + `\`\`\`${lang}\n`.length;
  return readme.slice(open, readme.indexOf('```', open));
}

function post(port: number, body: string, signature: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/vaultysclaw', method: 'POST', headers: { 'x-vaultysclaw-signature': signature, 'x-vaultysclaw-delivery': 'forged' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test("the README's webhook example works as written: the receiver prints each verified notification and refuses a forged one", async () => {
  const marker = '<!-- notify-webhook:';
  const receiverFile = join(ROOT, 'receiver.ts');
  assert.ok(!existsSync(receiverFile), 'no receiver.ts of its own at the project root (the test writes the README\'s there)');
  writeFileSync(receiverFile, readmeBlock(marker, 'ts'));
  const dir = tempDir('readme-notify');
  const port = await freePort();
  const run = spawn('bash', ['-euo', 'pipefail', '-c', readmeBlock(marker, 'sh')], {
    cwd: ROOT,
    env: { ...process.env, VAULTYSCLAW_NOTIFY_DIR: dir, NOTIFY_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: the broker and the receiver it starts are stopped with it, by its pid.
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  run.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  run.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let agent: AgentProcess | undefined;
  try {
    const started = await waitFor(
      'the broker of the block to start',
      () => {
        if (run.exitCode !== null) assert.fail(`the block ended with ${run.exitCode}:\n${stderr}`);
        const line = stderr.split('\n').find((l) => l.includes('"event":"broker.started"'));
        return line ? (JSON.parse(line) as { url: string; did: string }) : undefined;
      },
      60_000,
      100,
    );
    agent = await startAgent({ brokerUrl: started.url, brokerDid: started.did, name: 'readme-agent', request: 'read_file' });
    await waitFor('the receiver to print the notification', () => /New agent readme-agent \([0-9A-F ]+\) awaits approval \(asks for read_file\)/.test(stdout), 30_000, 100);
    // The receiver prints before it answers: the broker audits the delivery once the 204 is back.
    await waitFor('the delivery in the audit log', () => /"event":"notify\.delivered"[^\n]*"status":204/.test(readFileSync(join(dir, 'broker', 'audit.log'), 'utf8')), 15_000, 100);

    const body = '{"type":"agent.revoked","text":"Agent build-box was revoked"}';
    assert.deepEqual(await post(port, body, 'v1=nothing'), { status: 401, text: 'malformed' });
    const forged = signNotification('a-guessed-key-of-some-length', body, Math.floor(Date.now() / 1000));
    assert.deepEqual(await post(port, body, forged), { status: 401, text: 'mismatch' });
    assert.doesNotMatch(stdout, /build-box/, 'nothing forged is printed');
  } finally {
    await agent?.kill();
    if (run.pid !== undefined && run.exitCode === null) process.kill(-run.pid, 'SIGTERM');
    await waitFor('the block to stop', () => run.exitCode !== null || run.signalCode !== null, 15_000, 100).catch(() => process.kill(-run.pid!, 'SIGKILL'));
    rmSync(receiverFile, { force: true });
    removeDirs(dir);
  }
});
