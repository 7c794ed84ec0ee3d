// Attacks on path confinement (upstream-gaps 16: file tools followed symlinks out of the root). Each attack
// asserts the exact refusal code and that nothing outside the root changed.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { SandboxError, WorkspaceSandbox, type SandboxErrorCode } from '../../../agent/tools';
import { pathThroughHandle } from '../../../agent/tools/sandbox';
import { CANARY_TEXT, makeWorkspace, type Workspace } from './fixtures';

async function assertSandboxRefuses(promise: Promise<unknown>, code: SandboxErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SandboxError, `expected a SandboxError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

let ws: Workspace;
beforeEach(() => {
  ws = makeWorkspace();
  mkdirSync(join(ws.root, 'src/deep'), { recursive: true });
  writeFileSync(join(ws.root, 'src/a.txt'), 'a');
  symlinkSync('/etc/passwd', join(ws.root, 'passwd-link'));
  symlinkSync(ws.canary, join(ws.root, 'canary-link'));
  symlinkSync(ws.outside, join(ws.root, 'outdir-link'));
  symlinkSync('../../../outside', join(ws.root, 'src/deep/relative-out'));
  symlinkSync(join(ws.outside, 'does-not-exist'), join(ws.root, 'dangling-out'));
  symlinkSync('a.txt', join(ws.root, 'src/inside-link'));
  symlinkSync(join(ws.root, 'src'), join(ws.root, 'absolute-inside-link'));
  symlinkSync('loop-b', join(ws.root, 'loop-a'));
  symlinkSync('loop-a', join(ws.root, 'loop-b'));
});
afterEach(() => ws.cleanup());

describe('WorkspaceSandbox construction', () => {
  test('refuses a missing root', () => {
    assert.throws(() => new WorkspaceSandbox(join(ws.base, 'nope')), { name: 'SandboxError', code: 'invalid-root' });
  });
  test('refuses a file as root', () => {
    assert.throws(() => new WorkspaceSandbox(ws.canary), { name: 'SandboxError', code: 'invalid-root' });
  });
  test('refuses / as root, which would confine nothing', () => {
    assert.throws(() => new WorkspaceSandbox('/'), { name: 'SandboxError', code: 'invalid-root' });
  });
  test('keeps the real path of a root given through a symlink', () => {
    symlinkSync(ws.root, join(ws.base, 'ws-link'));
    assert.equal(new WorkspaceSandbox(join(ws.base, 'ws-link')).root, ws.root);
  });
});

describe('resolveExisting', () => {
  test('resolves entries inside the root to real paths', async () => {
    const file = join(ws.root, 'src/a.txt');
    assert.equal(await ws.sandbox.resolveExisting('.'), ws.root);
    for (const rel of ['src/a.txt', 'src/./a.txt', 'src//a.txt', 'src/deep/../a.txt']) {
      assert.equal(await ws.sandbox.resolveExisting(rel), file, rel);
    }
  });

  test('follows symlinks whose targets stay inside the root', async () => {
    assert.equal(await ws.sandbox.resolveExisting('src/inside-link'), join(ws.root, 'src/a.txt'));
    assert.equal(await ws.sandbox.resolveExisting('absolute-inside-link/a.txt'), join(ws.root, 'src/a.txt'));
  });

  const escapes: Array<[string, string]> = [
    ['a parent-relative path', '../outside/canary.txt'],
    ['.. after a real directory', 'src/../../outside/canary.txt'],
    ['the root\'s parent', '..'],
    ['an absolute system path', '/etc/passwd'],
    ['a NUL byte', 'src/a.txt\0.png'],
    ['a file symlink to /etc/passwd', 'passwd-link'],
    ['a file symlink to the canary', 'canary-link'],
    ['a directory symlink pointing outside', 'outdir-link/canary.txt'],
    ['a relative symlink climbing out from a subdirectory', 'src/deep/relative-out/canary.txt'],
    ['.. taken from inside an outside symlink', 'outdir-link/..'],
  ];
  for (const [name, rel] of escapes) {
    test(`refuses ${name} as path-escape`, async () => {
      await assertSandboxRefuses(ws.sandbox.resolveExisting(rel), 'path-escape');
      ws.assertOutsideUntouched();
    });
  }

  test('refuses the absolute path of the canary as path-escape', async () => {
    await assertSandboxRefuses(ws.sandbox.resolveExisting(ws.canary), 'path-escape');
  });

  test('refuses a dangling symlink to outside as path-escape, not not-found (no existence oracle)', async () => {
    await assertSandboxRefuses(ws.sandbox.resolveExisting('dangling-out'), 'path-escape');
    await assertSandboxRefuses(ws.sandbox.resolveExisting('outdir-link/no-such-file'), 'path-escape');
  });

  test('reports a missing path as not-found', async () => {
    await assertSandboxRefuses(ws.sandbox.resolveExisting('src/missing.txt'), 'not-found');
  });

  test('reports a file used as a directory as not-a-directory', async () => {
    await assertSandboxRefuses(ws.sandbox.resolveExisting('src/a.txt/x'), 'not-a-directory');
  });

  test('reports a symlink cycle as symlink-loop', async () => {
    await assertSandboxRefuses(ws.sandbox.resolveExisting('loop-a'), 'symlink-loop');
  });
});

describe('resolveForCreate', () => {
  test('gives the real target for a new or existing file in an existing directory', async () => {
    assert.equal(await ws.sandbox.resolveForCreate('src/new.txt'), join(ws.root, 'src/new.txt'));
    assert.equal(await ws.sandbox.resolveForCreate('src/a.txt'), join(ws.root, 'src/a.txt'));
    assert.equal(await ws.sandbox.resolveForCreate('absolute-inside-link/new.txt'), join(ws.root, 'src/new.txt'));
  });

  test('refuses a symlink as the final component, even one pointing inside', async () => {
    await assertSandboxRefuses(ws.sandbox.resolveForCreate('canary-link'), 'path-escape');
    await assertSandboxRefuses(ws.sandbox.resolveForCreate('src/inside-link'), 'path-escape');
    await assertSandboxRefuses(ws.sandbox.resolveForCreate('dangling-out'), 'path-escape');
    ws.assertOutsideUntouched();
  });

  test('refuses a parent reached through an outside symlink or ..', async () => {
    await assertSandboxRefuses(ws.sandbox.resolveForCreate('outdir-link/pwned.txt'), 'path-escape');
    await assertSandboxRefuses(ws.sandbox.resolveForCreate('src/deep/relative-out/pwned.txt'), 'path-escape');
    await assertSandboxRefuses(ws.sandbox.resolveForCreate('../outside/pwned.txt'), 'path-escape');
    await assertSandboxRefuses(ws.sandbox.resolveForCreate(join(ws.outside, 'pwned.txt')), 'path-escape');
    await assertSandboxRefuses(ws.sandbox.resolveForCreate('pwned\0.txt'), 'path-escape');
    ws.assertOutsideUntouched();
  });

  test('refuses paths that do not name a file as invalid-path', async () => {
    for (const rel of ['src/', 'src/.', 'src/..']) await assertSandboxRefuses(ws.sandbox.resolveForCreate(rel), 'invalid-path');
  });

  test('reports a missing parent as not-found and a directory target as is-a-directory', async () => {
    await assertSandboxRefuses(ws.sandbox.resolveForCreate('nope/new.txt'), 'not-found');
    await assertSandboxRefuses(ws.sandbox.resolveForCreate('src/deep'), 'is-a-directory');
  });
});

describe('verified opens', () => {
  test('refuses a FIFO without blocking on it', async () => {
    execFileSync('/usr/bin/mkfifo', [join(ws.root, 'fifo')]);
    await assertSandboxRefuses(ws.sandbox.openFile('fifo'), 'not-a-file');
  });

  test('refuses a directory opened as a file, and a file opened as a directory', async () => {
    await assertSandboxRefuses(ws.sandbox.openFile('src'), 'is-a-directory');
    await assertSandboxRefuses(ws.sandbox.openDirectory('src/a.txt'), 'not-a-directory');
  });

  test('attack: a hard link to an outside file is refused as hard-link, to open and to replace', async () => {
    linkSync(ws.canary, join(ws.root, 'canary-hardlink'));
    await assertSandboxRefuses(ws.sandbox.openFile('canary-hardlink'), 'hard-link');
    await assertSandboxRefuses(ws.sandbox.openParentForCreate('canary-hardlink'), 'hard-link');
  });

  test("attack: every open inside the agent's state directory is refused as agent-state, the directory itself included", async () => {
    const state = join(ws.root, 'home/.vaultysclaw/agent');
    mkdirSync(join(state, 'sub'), { recursive: true });
    writeFileSync(join(state, 'sub/deep.txt'), 'x');
    const sandbox = new WorkspaceSandbox(ws.root, { agentState: state });
    await assertSandboxRefuses(sandbox.openDirectory('home/.vaultysclaw/agent'), 'agent-state');
    await assertSandboxRefuses(sandbox.openFile('home/.vaultysclaw/agent/sub/deep.txt'), 'agent-state');
    await assertSandboxRefuses(sandbox.openParentForCreate('home/.vaultysclaw/agent/new.txt'), 'agent-state');
    await (await sandbox.openDirectory('home/.vaultysclaw')).close();
  });

  test('a workspace that is the state directory confines to nothing: every open is refused', async () => {
    const sandbox = new WorkspaceSandbox(ws.root, { agentState: ws.root });
    await assertSandboxRefuses(sandbox.openDirectory('.'), 'agent-state');
    await assertSandboxRefuses(sandbox.openFile('src/a.txt'), 'agent-state');
  });
});

/**
 * Runs `attempt` repeatedly for a bounded time while another process swaps swap/ for a link to the outside
 * directory and back, as fast as the shell can. Returns how often each outcome came up.
 */
async function underSwapRace(attempt: () => Promise<string>): Promise<Map<string, number>> {
  mkdirSync(join(ws.root, 'swap'));
  writeFileSync(join(ws.root, 'swap/canary.txt'), 'inside\n');
  const swapper = spawn('/bin/sh', ['-c', 'while :; do mv swap swap.real; ln -s ../outside swap; rm swap; mv swap.real swap; done'], {
    cwd: ws.root,
    stdio: 'ignore',
    detached: true,
  });
  const exited = once(swapper, 'exit');
  const seen = new Map<string, number>();
  try {
    for (const deadline = Date.now() + 1500; Date.now() < deadline; ) {
      const outcome = await attempt().catch((err: unknown) => (err instanceof SandboxError ? err.code : String(err)));
      seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
    }
  } finally {
    // The whole group, so no mv or ln is left running into the next test's cleanup.
    if (swapper.pid !== undefined) process.kill(-swapper.pid, 'SIGKILL');
    await exited;
  }
  return seen;
}

function assertOnly(seen: Map<string, number>, success: string, allowed: string[]): void {
  const report = JSON.stringify([...seen]);
  assert.ok((seen.get(success) ?? 0) > 0, report);
  assert.deepEqual([...seen.keys()].filter((k) => k !== success && !allowed.includes(k)), [], report);
}

describe('check-then-open races', () => {
  test('attack: a directory swapped for an outside link while a file is opened never yields outside content', async () => {
    const seen = await underSwapRace(async () => {
      const handle = await ws.sandbox.openFile('swap/canary.txt');
      try {
        return (await handle.readFile('utf8')) === CANARY_TEXT ? 'read the outside canary' : 'read inside';
      } finally {
        await handle.close();
      }
    });
    assertOnly(seen, 'read inside', ['path-escape', 'not-found', 'not-a-directory']);
    ws.assertOutsideUntouched();
  });

  test('attack: a directory swapped for an outside link while a file is written never writes outside', async () => {
    const seen = await underSwapRace(async () => {
      const { dir, name } = await ws.sandbox.openParentForCreate('swap/canary.txt');
      try {
        await writeFile(pathThroughHandle(dir, name), 'written\n');
        return 'wrote';
      } finally {
        await dir.close();
      }
    });
    // O_DIRECTORY|O_NOFOLLOW on a directory just swapped for a link fails with ENOTDIR: refused as not-a-directory.
    assertOnly(seen, 'wrote', ['path-escape', 'not-found', 'not-a-directory']);
    ws.assertOutsideUntouched();
  });
});
