// The resource-limits launch part with real commands through run_command, unconfined and in the real sandbox:
// what a command writes is spent from its intent's allowance even when it ends between two watches, nothing it
// started outlives the call (not even a setsid process that left its process group), and its cgroup is removed.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { cgroupLayout } from '../../../agent/confinement/command-cgroup';
import { probeConfinement } from '../../../agent/confinement/probe';
import { withLimitsNote } from '../../../agent/confinement/resource-limits';
import { runTool, type RunCommandOutput } from '../../../agent/tools';
import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import { processesWith } from '../../support/host-processes';
import { assertRefused, assertSucceeded, makeWorkspace, recordingContext, testHostRules, type Workspace } from '../tools/fixtures';

const MiB = 1024 * 1024;
const LIMITS = { ...MAX_COMMAND_LIMITS, workspaceWriteBytes: 32 * MiB };

let ws: Workspace;
beforeEach(() => {
  ws = makeWorkspace();
});
afterEach(() => ws.cleanup());

function hostFor(mode: 'unconfined' | 'sandboxed') {
  if (mode === 'unconfined') return testHostRules();
  const probed = probeConfinement({ unconfined: false, path: process.env.PATH, workspace: ws.root, hidden: [] });
  assert.equal(probed.confinement.mode, 'sandboxed', probed.confinement.detail);
  return testHostRules({ confinement: probed.confinement, sandbox: probed.sandbox });
}

async function run(mode: 'unconfined' | 'sandboxed', script: string, writes = { remainingBytes: LIMITS.workspaceWriteBytes }) {
  const { ctx } = recordingContext(ws.sandbox);
  ctx.host = hostFor(mode);
  ctx.policy = { allowedDomains: [], commandLimits: LIMITS };
  ctx.writes = writes;
  const outcome = await runTool({ capability: 'run_command', params: { command: 'sh', args: ['-c', script], cwd: '.', timeoutMs: 30_000 } }, ctx);
  return { outcome, writes };
}

const ourCgroups = () => readdirSync(cgroupLayout()!.pids).filter((name) => name.startsWith(`vaultysclaw-${process.pid}-`));

describe('resource limits: accounting and clean-up', () => {
  test('this host can make per-command cgroups (the process limit holds for root only through them)', () => {
    const layout = cgroupLayout();
    assert.ok(layout, 'no cgroup could be made: the fork bomb attack test would not be contained');
    assert.notEqual(layout.memory, null);
  });

  for (const mode of ['unconfined', 'sandboxed'] as const) {
    test(`${mode}: a 7 MiB write that ends before the first watch is still spent from the intent's allowance`, async () => {
      const { outcome, writes } = await run(mode, `head -c ${7 * MiB} /dev/zero > quick.bin`);
      const out = assertSucceeded(outcome) as RunCommandOutput;
      assert.equal(out.exitCode, 0, out.stderr);
      assert.ok(out.durationMs < 2000, `ran ${out.durationMs} ms`);
      const spent = LIMITS.workspaceWriteBytes - writes.remainingBytes;
      assert.ok(spent >= 7 * MiB && spent < 8 * MiB, `spent ${spent} bytes`);
    });

    test(`${mode}: commands of one intent share its allowance; once spent, the next is refused before it starts`, async () => {
      const writes = { remainingBytes: 10 * MiB };
      const first = assertSucceeded((await run(mode, `head -c ${6 * MiB} /dev/zero > a.bin`, writes)).outcome) as RunCommandOutput;
      assert.equal(first.limit, null);
      const second = assertSucceeded((await run(mode, `head -c ${6 * MiB} /dev/zero > b.bin`, writes)).outcome) as RunCommandOutput;
      assert.equal(second.limit, 'workspace-writes');
      assert.equal(writes.remainingBytes, 0);
      assertRefused((await run(mode, 'echo never > c.txt', writes)).outcome, 'failed', /workspace write allowance is spent/);
      assert.deepEqual(readdirSync(ws.root).sort(), ['a.bin', 'b.bin']);
    });
  }

  test('a setsid process that left the process group is killed with its command, and the cgroup is removed', async () => {
    const marker = `vc-limits-escape-${process.pid}-${Date.now()}`;
    const { outcome } = await run('unconfined', `setsid sh -c 'sleep 30' ${marker} </dev/null >/dev/null 2>&1 & sleep 0.3; echo started`);
    const out = assertSucceeded(outcome) as RunCommandOutput;
    assert.equal(out.stdout, 'started\n');
    assert.deepEqual(processesWith(marker), []);
    assert.deepEqual(ourCgroups(), []);
  });

  test('the hello says when no cgroup could be made, and what is left unlimited', () => {
    const confinement = { mode: 'sandboxed' as const, detail: 'sandboxed.', ceilings: MAX_COMMAND_LIMITS };
    assert.match(withLimitsNote(confinement, null).detail, /^sandboxed\. No cgroup could be made for commands: .*RLIMIT_NPROC only \(not enforced when the agent runs as root\)/);
    assert.match(withLimitsNote(confinement, { version: 1, pids: '/x', memory: null }).detail, /No memory cgroup .* RLIMIT_DATA/);
    assert.equal(withLimitsNote(confinement, { version: 1, pids: '/x', memory: '/y' }), confinement);
  });
});
