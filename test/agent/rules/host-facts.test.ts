// What only the agent host knows about a call, read with the tools' own resolution: the program a bare command
// starts, the file a workspace path reaches through its links. Real files in a temp workspace.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { hostFacts } from '../../../agent/rules/host-facts';
import { SCRUBBED_PATH } from '../../../agent/tools/command-env';
import { makeWorkspace, type Workspace } from '../tools/fixtures';

let ws: Workspace;
beforeEach(() => {
  ws = makeWorkspace();
  writeFileSync(join(ws.root, '.env'), 'TOKEN=secret\n');
  mkdirSync(join(ws.root, '.github'));
  symlinkSync('.env', join(ws.root, 'cfg'));
  symlinkSync('cfg', join(ws.root, 'cfg2'));
  symlinkSync('.github', join(ws.root, 'gh'));
  symlinkSync(ws.canary, join(ws.root, 'canary-link'));
  writeFileSync(join(ws.root, 'git'), '#!/bin/sh\ntouch planted-ran\n');
  chmodSync(join(ws.root, 'git'), 0o755);
});
afterEach(() => ws.cleanup());

const command = (cmd: string) => hostFacts({ capability: 'run_command', params: { command: cmd, args: [], cwd: '.', timeoutMs: 1000 } }, ws.sandbox);
const read = (path: string) => hostFacts({ capability: 'read_file', params: { path } }, ws.sandbox);

/** Where a shell finds the command on the sandbox's PATH: the file found, and the real file it leads to. */
const onPath = (name: string) => {
  const found = execFileSync('/bin/sh', ['-c', `command -v ${name}`], { env: { PATH: SCRUBBED_PATH }, encoding: 'utf8' }).trim();
  return [...new Set([found, realpathSync(found)])];
};

describe('host facts: run_command', () => {
  test('a bare name is the file the scrubbed PATH finds and, for a link, the real file (sh: /usr/bin/sh and what it points to)', async () => {
    assert.deepEqual(await command('git'), { executables: onPath('git') });
    const sh = onPath('sh');
    assert.deepEqual(await command('sh'), { executables: sh });
    assert.equal(sh.length, 2, 'this host links sh to a shell of another name');
  });

  test('a planted workspace file of the same name is never what a bare name resolves to', async () => {
    assert.ok((await command('git')).executables?.every((path) => !path.startsWith(ws.root)));
  });

  test('a name found nowhere on the PATH: no executable', async () => {
    assert.deepEqual(await command('no-such-command-vc'), { executables: [] });
  });

  test('a path is the file it names from the cwd, and its real target: a planted ./git is the workspace file', async () => {
    assert.deepEqual(await command('./git'), { executables: [realpathSync(join(ws.root, 'git'))] });
    assert.deepEqual(await command('/usr/bin/git'), { executables: [...new Set(['/usr/bin/git', realpathSync('/usr/bin/git')])] });
  });
});

describe('host facts: file tools', () => {
  test('a symlink, or a chain of them, is the workspace-relative file it reaches', async () => {
    assert.deepEqual(await read('cfg'), { realPaths: ['.env'] });
    assert.deepEqual(await read('cfg2'), { realPaths: ['.env'] });
    assert.deepEqual(await hostFacts({ capability: 'list_files', params: { path: 'gh' } }, ws.sandbox), { realPaths: ['.github'] });
  });

  test('a write that creates a file: its real parent joined with its name', async () => {
    const facts = await hostFacts({ capability: 'write_file', params: { path: 'gh/ci.yml', content: 'x', mode: 'create' } }, ws.sandbox);
    assert.deepEqual(facts, { realPaths: ['.github/ci.yml'] });
  });

  test('what the tool itself refuses or cannot find gives no fact: a missing file, a link leading outside', async () => {
    assert.deepEqual(await read('missing.txt'), { realPaths: [] });
    assert.deepEqual(await read('canary-link'), { realPaths: [] });
  });

  test('other capabilities: none', async () => {
    assert.deepEqual(await hostFacts({ capability: 'http_fetch', params: { method: 'GET', url: 'https://example.com/', timeoutMs: 1000 } }, ws.sandbox), {});
  });
});
