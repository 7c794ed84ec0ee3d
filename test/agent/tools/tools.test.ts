// The four tools through runTool, as the agent calls them: real files in a temp workspace, real child
// processes. Attacks name their threat and assert the exact refusal reason.
import assert from 'node:assert/strict';
import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { ToolCall } from '../../../core/wire/tools';
import { runTool, WorkspaceSandbox, type ListFilesOutput, type ReadFileOutput, type RunCommandOutput, type WriteFileOutput } from '../../../agent/tools';
import { AgentStateDir } from '../../../agent/state-dir';
import { LIST_MAX_ENTRIES } from '../../../agent/tools/list-files';
import { READ_FILE_MAX_BYTES } from '../../../agent/tools/read-file';
import { COMMAND_OUTPUT_MAX_BYTES } from '../../../agent/tools/run-command';
import { assertRefused, assertSucceeded, CANARY_TEXT, makeWorkspace, recordingContext, type Workspace } from './fixtures';

let ws: Workspace;
beforeEach(() => {
  ws = makeWorkspace();
  mkdirSync(join(ws.root, 'src'));
  writeFileSync(join(ws.root, 'src/a.txt'), 'héllo\n');
  symlinkSync('/etc/passwd', join(ws.root, 'passwd-link'));
  symlinkSync(ws.canary, join(ws.root, 'canary-link'));
  symlinkSync(ws.outside, join(ws.root, 'outdir-link'));
});
afterEach(() => ws.cleanup());

const call = (c: ToolCall) => runTool(c, recordingContext(ws.sandbox).ctx);
const read = (path: string) => call({ capability: 'read_file', params: { path } });
const list = (path: string) => call({ capability: 'list_files', params: { path } });
const write = (path: string, content: string, mode: 'create' | 'overwrite') =>
  call({ capability: 'write_file', params: { path, content, mode } });
const command = (command: string, args: string[], extra: { cwd?: string; timeoutMs?: number } = {}) => ({
  capability: 'run_command' as const,
  params: { command, args, cwd: extra.cwd ?? '.', timeoutMs: extra.timeoutMs ?? 10_000 },
});
const run = async (c: ReturnType<typeof command>, signal?: AbortSignal) => {
  const recording = recordingContext(ws.sandbox, signal);
  const outcome = await runTool(c, recording.ctx);
  return { outcome, ...recording };
};
const ran = (outcome: Awaited<ReturnType<typeof runTool>>) => assertSucceeded(outcome) as RunCommandOutput;

describe('read_file', () => {
  test('reads a UTF-8 file', async () => {
    assert.deepEqual(assertSucceeded(await read('src/a.txt')), { content: 'héllo\n', bytes: 7, truncated: false });
  });

  test('caps a large file on a character boundary and reports its full size', async () => {
    // 'x' then 'é' (2 bytes) repeated: the cap falls in the middle of a character.
    const text = `x${'é'.repeat(READ_FILE_MAX_BYTES)}`;
    writeFileSync(join(ws.root, 'big.txt'), text);
    const out = assertSucceeded(await read('big.txt')) as ReadFileOutput;
    assert.equal(out.truncated, true);
    assert.equal(out.bytes, Buffer.byteLength(text));
    assert.equal(Buffer.byteLength(out.content), READ_FILE_MAX_BYTES - 1);
    assert.ok(text.startsWith(out.content));
  });

  test('refuses a directory', async () => {
    assertRefused(await read('src'), 'failed', /is a directory/);
  });

  test('attack: symlink to /etc/passwd inside the root is refused', async () => {
    assertRefused(await read('passwd-link'), 'path-escape');
  });

  test('attack: .., absolute paths and outside directory links are refused', async () => {
    for (const path of ['../outside/canary.txt', 'src/../../outside/canary.txt', '/etc/passwd', ws.canary, 'outdir-link/canary.txt', 'canary-link']) {
      assertRefused(await read(path), 'path-escape');
    }
  });
});

describe('list_files', () => {
  test('lists entries sorted by name with their types, without following links', async () => {
    writeFileSync(join(ws.root, 'B.txt'), 'abc');
    const out = assertSucceeded(await list('.')) as ListFilesOutput;
    assert.deepEqual(out, {
      entries: [
        { name: 'B.txt', type: 'file', size: 3 },
        { name: 'canary-link', type: 'symlink', size: null },
        { name: 'outdir-link', type: 'symlink', size: null },
        { name: 'passwd-link', type: 'symlink', size: null },
        { name: 'src', type: 'directory', size: null },
      ],
      truncated: false,
    });
  });

  test('caps the number of entries', async () => {
    mkdirSync(join(ws.root, 'many'));
    for (let i = 0; i <= LIST_MAX_ENTRIES; i++) writeFileSync(join(ws.root, 'many', `f${String(i).padStart(5, '0')}`), '');
    const out = assertSucceeded(await list('many')) as ListFilesOutput;
    assert.equal(out.truncated, true);
    assert.equal(out.entries.length, LIST_MAX_ENTRIES);
    assert.equal(out.entries[0]?.name, 'f00000');
    assert.equal(out.entries.at(-1)?.name, `f${String(LIST_MAX_ENTRIES - 1).padStart(5, '0')}`);
  });

  test('caps a listing of long names to what fits the signed result', async () => {
    mkdirSync(join(ws.root, 'long'));
    for (let i = 0; i < 1000; i++) writeFileSync(join(ws.root, 'long', `${String(i).padStart(4, '0')}${'n'.repeat(240)}`), '');
    const out = assertSucceeded(await list('long')) as ListFilesOutput; // asserts the encoded size
    assert.equal(out.truncated, true);
    assert.ok(out.entries.length > 100 && out.entries.length < 1000);
  });

  test('attack: listing through an outside directory link or .. is refused', async () => {
    for (const path of ['outdir-link', '..', 'src/../..', '/etc']) assertRefused(await list(path), 'path-escape');
  });

  test('refuses a file', async () => {
    assertRefused(await list('src/a.txt'), 'failed', /not a directory/);
  });
});

describe('write_file', () => {
  test('creates a new file and returns its workspace-relative path', async () => {
    assert.deepEqual(assertSucceeded(await write('src/../new.txt', 'é', 'create')), { bytesWritten: 2, path: 'new.txt' });
    assert.equal(readFileSync(join(ws.root, 'new.txt'), 'utf8'), 'é');
  });

  test('create refuses an existing file and leaves it intact', async () => {
    assertRefused(await write('src/a.txt', 'clobbered', 'create'), 'failed', /already exists/);
    assert.equal(readFileSync(join(ws.root, 'src/a.txt'), 'utf8'), 'héllo\n');
  });

  test('overwrite replaces the file atomically, keeps its mode and leaves no temporary file', async () => {
    chmodSync(join(ws.root, 'src/a.txt'), 0o600);
    const out = assertSucceeded(await write('src/a.txt', 'new content', 'overwrite')) as WriteFileOutput;
    assert.deepEqual(out, { bytesWritten: 11, path: 'src/a.txt' });
    assert.equal(readFileSync(join(ws.root, 'src/a.txt'), 'utf8'), 'new content');
    assert.equal(statSync(join(ws.root, 'src/a.txt')).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(ws.root, 'src')), ['a.txt']);
  });

  test('overwrite creates a missing file', async () => {
    assertSucceeded(await write('src/b.txt', 'b', 'overwrite'));
    assert.equal(readFileSync(join(ws.root, 'src/b.txt'), 'utf8'), 'b');
  });

  test('attack: a symlink as the final component is refused in both modes, the link and its target untouched', async () => {
    for (const mode of ['create', 'overwrite'] as const) assertRefused(await write('canary-link', 'pwned', mode), 'path-escape');
    assert.ok(lstatSync(join(ws.root, 'canary-link')).isSymbolicLink());
    assert.equal(readFileSync(ws.canary, 'utf8'), CANARY_TEXT);
    ws.assertOutsideUntouched();
  });

  test('attack: .., absolute paths, outside directory links and NUL bytes are refused, nothing outside written', async () => {
    const targets = ['../outside/pwned.txt', 'src/../../outside/pwned.txt', join(ws.outside, 'pwned.txt'), ws.canary, 'outdir-link/pwned.txt', 'outdir-link/canary.txt', 'pwned\0.txt'];
    for (const path of targets) {
      for (const mode of ['create', 'overwrite'] as const) assertRefused(await write(path, 'pwned', mode), 'path-escape');
    }
    ws.assertOutsideUntouched();
  });

  test('refuses a path that names a directory as bad-params, a missing parent and a directory target as failed', async () => {
    assertRefused(await write('src/', 'x', 'create'), 'bad-params');
    assertRefused(await write('nope/x.txt', 'x', 'create'), 'failed', /parent directory/);
    assertRefused(await write('src', 'x', 'overwrite'), 'failed', /is a directory/);
  });
});

/** True once the process is gone or a zombie (a container's init may never reap it). */
function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitGone(pid: number, withinMs = 3000): Promise<boolean> {
  for (const deadline = Date.now() + withinMs; Date.now() < deadline; await sleep(50)) if (isGone(pid)) return true;
  return isGone(pid);
}

function killIfAlive(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

describe('run_command', () => {
  test('attack: arguments reach the program literally, no shell interprets them', async () => {
    const args = ['$HOME;id', '$(id)', '`id`', '*', '|', '&&', 'a b'];
    const out = ran((await run(command('/bin/echo', args))).outcome);
    assert.equal(out.stdout, `${args.join(' ')}\n`);
    assert.deepEqual([out.exitCode, out.signal, out.timedOut], [0, null, false]);
  });

  test('attack: the agent\'s environment never reaches the command', async () => {
    const previous = process.env.OPENAI_API_KEY;
    process.env.OPENAI_API_KEY = 'sk-test-secret';
    try {
      const out = ran((await run(command('env', []))).outcome);
      assert.ok(!out.stdout.includes('sk-test-secret'));
      assert.deepEqual(out.stdout.trim().split('\n').sort(), [`HOME=${ws.root}`, 'LANG=C.UTF-8', 'PATH=/usr/local/bin:/usr/bin:/bin', 'TERM=dumb']);
    } finally {
      if (previous === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = previous;
    }
  });

  test('attack: a bare name never resolves to a file planted in the workspace', async () => {
    writeFileSync(join(ws.root, 'planted-tool'), '#!/bin/sh\necho planted\n', { mode: 0o755 });
    assertRefused((await run(command('planted-tool', []))).outcome, 'failed', /command not found/);
  });

  test('runs a workspace script named with a relative path, in the given cwd', async () => {
    writeFileSync(join(ws.root, 'src/build.sh'), '#!/bin/sh\npwd\n', { mode: 0o755 });
    const out = ran((await run(command('./build.sh', [], { cwd: 'src' }))).outcome);
    assert.equal(out.stdout, `${join(ws.root, 'src')}\n`);
  });

  test('attack: a cwd outside the root is refused', async () => {
    for (const cwd of ['../', '..', '/tmp', 'outdir-link', 'src/../..']) assertRefused((await run(command('/bin/pwd', [], { cwd }))).outcome, 'path-escape');
    assertRefused((await run(command('../outside/x', []))).outcome, 'path-escape');
    assertRefused((await run(command('/bin/pwd', [], { cwd: 'src/a.txt' }))).outcome, 'failed', /not a directory/);
  });

  test('a non-zero exit is a result, with both streams', async () => {
    const out = ran((await run(command('/bin/sh', ['-c', 'echo out; echo err >&2; exit 3']))).outcome);
    assert.deepEqual([out.exitCode, out.signal, out.stdout, out.stderr], [3, null, 'out\n', 'err\n']);
    assert.ok(Number.isInteger(out.durationMs));
  });

  test('a timeout kills the command quickly', async () => {
    const started = Date.now();
    const out = ran((await run(command('/bin/sleep', ['30'], { timeoutMs: 300 }))).outcome);
    assert.deepEqual([out.timedOut, out.exitCode, out.signal], [true, null, 'SIGKILL']);
    assert.ok(Date.now() - started < 5000);
  });

  test('a timeout kills the grandchildren too', async () => {
    const out = ran((await run(command('/bin/sh', ['-c', 'sleep 30 & echo $!; wait'], { timeoutMs: 500 }))).outcome);
    const grandchild = Number(out.stdout.trim());
    assert.ok(Number.isInteger(grandchild) && grandchild > 0, out.stdout);
    try {
      assert.equal(out.timedOut, true);
      assert.equal(await waitGone(grandchild), true, 'the backgrounded sleep must be killed');
    } finally {
      killIfAlive(grandchild);
    }
  });

  test('a background job does not outlive the command that started it', async () => {
    const started = Date.now();
    const out = ran((await run(command('/bin/sh', ['-c', 'sleep 30 & echo $!'], { timeoutMs: 20_000 }))).outcome);
    const grandchild = Number(out.stdout.trim());
    try {
      assert.deepEqual([out.timedOut, out.exitCode], [false, 0]);
      assert.ok(Date.now() - started < 5000);
      assert.equal(await waitGone(grandchild), true);
    } finally {
      killIfAlive(grandchild);
    }
  });

  test('aborting kills the command', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = run(command('/bin/sleep', ['30']), controller.signal);
    setTimeout(() => controller.abort(), 200);
    const out = ran((await pending).outcome);
    assert.deepEqual([out.aborted, out.timedOut, out.signal], [true, false, 'SIGKILL']);
    assert.ok(Date.now() - started < 5000);
    assertRefused((await run(command('/bin/echo', []), controller.signal)).outcome, 'failed', /cancelled/);
  });

  test('output is capped per stream and the command still completes', async () => {
    const script = 'yes 0123456789 | head -c 1000000; yes x | head -c 500000 >&2; echo done >&2';
    const { outcome, streamed } = await run(command('/bin/sh', ['-c', script]));
    const out = ran(outcome);
    assert.deepEqual([out.exitCode, out.stdoutTruncated, out.stderrTruncated], [0, true, true]);
    assert.equal(out.stdout.length, COMMAND_OUTPUT_MAX_BYTES);
    assert.equal(out.stderr.length, COMMAND_OUTPUT_MAX_BYTES);
    assert.equal(streamed('stdout'), out.stdout);
    assert.match(streamed('status'), /stdout passed 65536 bytes/);
  });

  test('output streams as progress while the command runs', async () => {
    const { outcome, progress, streamed } = await run(command('/bin/sh', ['-c', 'echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three']));
    const out = ran(outcome);
    assert.equal(streamed('stdout'), 'one\nthree\n');
    assert.equal(streamed('stderr'), 'two\n');
    assert.equal(out.stdout, 'one\nthree\n');
    const order = progress.filter((p) => p.stream !== 'status').map((p) => p.text);
    assert.deepEqual(order, ['one\n', 'two\n', 'three\n']);
    assert.match(progress[0]?.text ?? '', /^started "\/bin\/sh" \(pid \d+\)$/);
  });

  test('a command that cannot start is a failure with a clear message', async () => {
    assertRefused((await run(command('no-such-command-xyz', []))).outcome, 'failed', /command not found: "no-such-command-xyz"/);
    writeFileSync(join(ws.root, 'bad-interpreter'), '#!/nonexistent/interpreter\n', { mode: 0o755 });
    // Started through the resource limits' prlimit (and, sandboxed, bwrap): the launcher that execs it says why it could not.
    const out = ran((await run(command('./bad-interpreter', []))).outcome);
    assert.equal(out.exitCode, 127);
    assert.match(out.stderr, /failed to execute \S*bad-interpreter: No such file or directory/);
  });

  test('a NUL byte in an argument is refused as bad-params', async () => {
    assertRefused((await run(command('/bin/echo', ['a\0b']))).outcome, 'bad-params');
  });
});

describe('attack: hard links to files outside the workspace (issue 13, finding 14)', () => {
  beforeEach(() => linkSync(ws.canary, join(ws.root, 'canary-hardlink')));

  test('read_file refuses a hard link to an outside file, naming the reason', async () => {
    assertRefused(await read('canary-hardlink'), 'path-escape', /has 2 names \(hard links\)/);
  });

  test('write_file refuses it in both modes; the outside file keeps its content and its second name', async () => {
    assertRefused(await write('canary-hardlink', 'pwned', 'overwrite'), 'path-escape', /hard links/);
    assertRefused(await write('canary-hardlink', 'pwned', 'create'), 'path-escape', /hard links/);
    assert.equal(statSync(ws.canary).nlink, 2);
    ws.assertOutsideUntouched();
  });

  test('list_files shows it, flagged and without the size of content that may lie outside', async () => {
    const { entries } = assertSucceeded(await list('.')) as ListFilesOutput;
    assert.deepEqual(entries.find((e) => e.name === 'canary-hardlink'), { name: 'canary-hardlink', type: 'file', size: null, hardLinked: true });
    assert.deepEqual(entries.find((e) => e.name === 'src'), { name: 'src', type: 'directory', size: null }, 'directories are not flagged');
  });
});

describe("attack: the agent's state directory inside its workspace (issue 13, finding 6: the sandbox's own line)", () => {
  let stateDir: string;
  let sandbox: WorkspaceSandbox;
  const tool = (c: ToolCall) => runTool(c, recordingContext(sandbox).ctx);
  beforeEach(() => {
    // The default layout of an agent started from $HOME: the workspace holds ~/.vaultysclaw/agent.
    stateDir = join(ws.root, '.vaultysclaw', 'agent');
    new AgentStateDir(stateDir).create({ brokerDid: null, trustOnFirstUse: true, pinnedAt: null });
    sandbox = new WorkspaceSandbox(ws.root, { agentState: stateDir });
  });

  test('read_file of agent.key is refused, directly, through a link inside the workspace, and by a path that climbs back in', async () => {
    symlinkSync('.vaultysclaw/agent', join(ws.root, 'state-link'));
    for (const path of ['.vaultysclaw/agent/agent.key', 'state-link/agent.key', 'src/../.vaultysclaw/./agent/agent.key']) {
      assertRefused(await tool({ capability: 'read_file', params: { path } }), 'path-escape', /agent's state directory/);
    }
  });

  test('write_file cannot rewrite the broker pin or add a file beside it', async () => {
    const pin = readFileSync(join(stateDir, 'broker-pin.json'), 'utf8');
    for (const mode of ['overwrite', 'create'] as const) {
      const path = mode === 'create' ? '.vaultysclaw/agent/planted.json' : '.vaultysclaw/agent/broker-pin.json';
      assertRefused(await tool({ capability: 'write_file', params: { path, content: '{}', mode } }), 'path-escape', /agent's state directory/);
    }
    assert.equal(readFileSync(join(stateDir, 'broker-pin.json'), 'utf8'), pin);
    assert.deepEqual(readdirSync(stateDir).sort(), ['agent.key', 'broker-pin.json']);
  });

  test('list_files refuses the state directory but lists its parent; run_command refuses it as cwd', async () => {
    assertRefused(await tool({ capability: 'list_files', params: { path: '.vaultysclaw/agent' } }), 'path-escape', /agent's state directory/);
    const { entries } = assertSucceeded(await tool({ capability: 'list_files', params: { path: '.vaultysclaw' } })) as ListFilesOutput;
    assert.deepEqual(entries.map((e) => e.name), ['agent']);
    assertRefused(await tool(command('/bin/cat', ['agent.key'], { cwd: '.vaultysclaw/agent' })), 'path-escape', /agent's state directory/);
  });

  test('the rest of the workspace is served as before', async () => {
    assert.equal((assertSucceeded(await tool({ capability: 'read_file', params: { path: 'src/a.txt' } })) as ReadFileOutput).content, 'héllo\n');
    assertSucceeded(await tool({ capability: 'write_file', params: { path: '.vaultysclaw/notes.txt', content: 'ok', mode: 'create' } }));
  });

  test('a hard link to agent.key from a workspace outside the state directory is refused', async () => {
    const outsideState = join(ws.outside, 'state');
    new AgentStateDir(outsideState).create({ brokerDid: null, trustOnFirstUse: true, pinnedAt: null });
    linkSync(join(outsideState, 'agent.key'), join(ws.root, 'key-hardlink'));
    const separate = new WorkspaceSandbox(ws.root, { agentState: outsideState });
    assertRefused(await runTool({ capability: 'read_file', params: { path: 'key-hardlink' } }, recordingContext(separate).ctx), 'path-escape', /hard links/);
  });
});
