// Threat "an invitation read from the process list" (issue 13, finding 14e): `join --invitation <token>` put
// the token in argv, which every local user reads (ps, /proc/<pid>/cmdline) while the command runs, and the
// token makes its holder a user. The CLI takes it from a file or stdin only.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrokerProcess } from '../../support/processes';
import { ROOT, waitFor } from '../../support/processes';
import { exitIfHeldOpen, Started } from '../../support/started';

exitIfHeldOpen();
const started = new Started();
let broker: BrokerProcess;
let dir: string;
before(async () => {
  broker = await started.broker();
  dir = broker.dataDir;
});
after(() => started.cleanup());

const BROKER_JS = join(ROOT, 'dist', 'broker.js');
const cli = (args: string[], input?: string) => spawnSync(process.execPath, [BROKER_JS, ...args], { encoding: 'utf8', timeout: 30_000, ...(input !== undefined ? { input } : {}) });

function invitation(): string {
  const run = cli(['invite', '--data-dir', broker.dataDir, '--role', 'viewer', '--token-only']);
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

function member(name: string): string[] {
  const key = join(dir, `${name}.key`);
  assert.equal(cli(['keygen', key]).status, 0);
  return ['--key', key, '--name', name, '--url', broker.url, '--broker-did', broker.did];
}

describe('join takes the invitation from a file or stdin, never from its command line', () => {
  test('Token in the process list: a token on the command line is refused, and not consumed', async () => {
    const token = invitation();
    const run = cli(['join', ...member('argv-user'), '--invitation', token]);
    assert.notEqual(run.status, 0, `join accepted a token on its command line: ${run.stdout}`);
    assert.match(run.stderr, /required option '--invitation-file <file>' not specified/);
    const open = (await broker.client.call('invitationsList', {})).items.filter((i) => i.state === 'open');
    assert.equal(open.length, 1, 'the invitation is still open');
  });

  test('with --invitation-file -, the token comes through stdin and never appears in the process command line', async () => {
    const token = invitation();
    const child = spawn(process.execPath, [BROKER_JS, 'join', ...member('stdin-user'), '--invitation-file', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      // What any local user reads about the running process, before and after it has the token.
      const cmdline = await waitFor('the join process to be listed', () => {
        try {
          return readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
        } catch {
          return undefined;
        }
      });
      assert.doesNotMatch(cmdline, new RegExp(token));
      child.stdin.end(`${token}\n`);
      const code = await waitFor('join to exit', () => child.exitCode ?? undefined, 30_000);
      assert.equal(code, 0, stderr);
      const user = JSON.parse(stdout) as { name: string; role: string };
      assert.deepEqual([user.name, user.role], ['stdin-user', 'viewer']);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('with --invitation-file <file>, the token is read from the file; a file without a token is refused without repeating it', () => {
    const file = join(dir, 'invitation.txt');
    writeFileSync(file, `${invitation()}\n`, { mode: 0o600 });
    const joined = cli(['join', ...member('file-user'), '--invitation-file', file]);
    assert.equal(joined.status, 0, joined.stderr);
    assert.equal((JSON.parse(joined.stdout) as { role: string }).role, 'viewer');

    const wrong = cli(['join', ...member('wrong-user'), '--invitation-file', '-'], 'my-secret-password\n');
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /the invitation must be the 43-character token "invite" printed, alone/);
    assert.doesNotMatch(wrong.stderr, /my-secret-password/);
    const missing = cli(['join', ...member('missing-user'), '--invitation-file', join(dir, 'nope.txt')]);
    assert.match(missing.stderr, /cannot read the invitation from .*nope\.txt: ENOENT/);
  });
});
