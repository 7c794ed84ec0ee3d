// The sandbox run_command starts every command in (agent/confinement), with real bubblewrap and real child
// processes, in process: the start-time probe and each way it fails closed, secrets masked when they lie under
// a directory the sandbox binds, absolute commands the sandbox does not show, and the LaunchPart seam
// (outer, bwrap options, inner, environment, started/stop, finish) as the limits and egress parts use it.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { HostRules } from '../../../agent/confinement/host-rules';
import type { LaunchPart } from '../../../agent/confinement/launch-part';
import { probeConfinement } from '../../../agent/confinement/probe';
import { runTool, type RunCommandOutput } from '../../../agent/tools';
import { runCommand } from '../../../agent/tools/run-command';
import { assertRefused, assertSucceeded, makeWorkspace, recordingContext, testHostRules, type Workspace } from '../tools/fixtures';

let ws: Workspace;
let scratch: string;
beforeEach(() => {
  ws = makeWorkspace();
  scratch = mkdtempSync(join(tmpdir(), 'vc-confinement-'));
});
afterEach(() => {
  ws.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

const params = (command: string, args: string[], timeoutMs = 10_000) => ({ command, args, cwd: '.', timeoutMs });

/** A host as `agent start` would set it up for this workspace, hiding `hidden`. */
function sandboxedHost(hidden: string[] = []): HostRules {
  const probed = probeConfinement({ unconfined: false, path: process.env.PATH, workspace: ws.root, hidden });
  assert.equal(probed.confinement.mode, 'sandboxed', probed.confinement.detail);
  return testHostRules({ confinement: probed.confinement, sandbox: probed.sandbox });
}

function contextOn(host: HostRules) {
  const recording = recordingContext(ws.sandbox);
  recording.ctx.host = host;
  return recording;
}

async function runOn(host: HostRules, command: string, args: string[]) {
  return runTool({ capability: 'run_command', params: params(command, args) }, contextOn(host).ctx);
}

describe('the start-time probe', () => {
  test('no bwrap on the PATH: unavailable, one sentence saying how to fix it, and run_command refused as sandbox-unavailable', async () => {
    const probed = probeConfinement({ unconfined: false, path: scratch, workspace: ws.root, hidden: [] });
    assert.equal(probed.confinement.mode, 'unavailable');
    assert.equal(probed.sandbox, undefined);
    assert.match(probed.confinement.detail, /^run_command is refused because bubblewrap \(bwrap\) is not on this agent's PATH: install it/);
    assert.equal(probed.confinement.detail.split('. ').length, 1, 'one sentence');
    const outcome = await runOn(testHostRules({ confinement: probed.confinement }), 'true', []);
    assertRefused(outcome, 'sandbox-unavailable', /bubblewrap/);
  });

  test('a bwrap that cannot create its namespaces (user namespaces off): unavailable, quoting bwrap', () => {
    const fake = join(scratch, 'bwrap');
    writeFileSync(fake, '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n');
    chmodSync(fake, 0o755);
    const probed = probeConfinement({ unconfined: false, path: scratch, workspace: ws.root, hidden: [] });
    assert.equal(probed.confinement.mode, 'unavailable');
    assert.match(probed.confinement.detail, /could not start a sandbox here \(bwrap: No permissions to create new namespace\): allow unprivileged user namespaces/);
  });

  test('--unconfined-commands: unconfined whatever the PATH holds, and commands run', async () => {
    const probed = probeConfinement({ unconfined: true, path: process.env.PATH, workspace: ws.root, hidden: [] });
    assert.equal(probed.confinement.mode, 'unconfined');
    const out = assertSucceeded(await runOn(testHostRules({ confinement: probed.confinement }), 'cat', [ws.canary])) as RunCommandOutput;
    assert.match(out.stdout, /CANARY/, 'nothing confines it: the file outside the workspace is read');
  });

  test('a host that says sandboxed but carries no sandbox fails closed', async () => {
    const host = sandboxedHost();
    const outcome = await runOn({ ...host, sandbox: undefined }, 'cat', [ws.canary]);
    assertRefused(outcome, 'sandbox-unavailable');
  });
});

describe('inside the sandbox', () => {
  test('a hidden directory and file under a bound directory (the workspace here) are masked; the rest of it is not', async () => {
    mkdirSync(join(ws.root, 'state'));
    writeFileSync(join(ws.root, 'state', 'agent.key'), 'secret key\n');
    writeFileSync(join(ws.root, 'model.key'), 'secret model key\n');
    writeFileSync(join(ws.root, 'plain.txt'), 'plain\n');
    const host = sandboxedHost([join(ws.root, 'state'), join(ws.root, 'model.key')]);
    const out = assertSucceeded(await runOn(host, 'sh', ['-c', 'ls -A state; cat model.key; cat plain.txt'])) as RunCommandOutput;
    assert.equal(out.stdout, 'plain\n');
    assert.doesNotMatch(out.stdout + out.stderr, /secret/);
  });

  test('an absolute command outside what the sandbox shows is refused without asking the host whether it exists', async () => {
    const host = sandboxedHost();
    writeFileSync(join(ws.outside, 'tool'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    for (const command of [join(ws.outside, 'tool'), join(ws.outside, 'missing'), '/usr/../root/anything']) {
      assertRefused(await runOn(host, command, []), 'failed', /is outside what a command can see/);
    }
    // The system directories, through Debian's merged-/usr links too, and the workspace are visible.
    writeFileSync(join(ws.root, 'tool'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    for (const command of ['/bin/true', '/usr/bin/true', join(ws.root, 'tool')]) assertSucceeded(await runOn(host, command, []));
  });

  test('the background of a command that timed out is gone with it', async () => {
    const host = sandboxedHost();
    const recording = contextOn(host);
    const out = (await runCommand(params('sh', ['-c', 'setsid sh -c "sleep 0.5; echo late > late.txt" & sleep 30'], 300), recording.ctx)) as RunCommandOutput;
    assert.equal(out.timedOut, true);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual((await runCommand(params('ls', []), recording.ctx)).stdout, '', 'the background process was killed with the sandbox');
  });
});

describe('the LaunchPart seam', () => {
  /** Records what run_command told it; stops the command at start if `stopWith` is set. */
  function recordingPart(piece: Omit<LaunchPart, 'started' | 'finish'>, finishWith: string | null, stopWith?: string) {
    const seen = { started: [] as number[], finished: 0 };
    const part: LaunchPart = {
      ...piece,
      started(pid, stop) {
        seen.started.push(pid);
        if (stopWith) stop(stopWith);
      },
      async finish() {
        seen.finished++;
        return finishWith;
      },
    };
    return { part, seen };
  }

  for (const mode of ['sandboxed', 'unconfined'] as const) {
    test(`${mode}: outer runs on the host, bwrapArgs reach bwrap, inner wraps the command, env is added; each part is told it started and finished`, async () => {
      const host = mode === 'sandboxed' ? sandboxedHost() : testHostRules();
      const limits = recordingPart({ outer: ['/usr/bin/env', 'VC_OUTER=o'], inner: ['/usr/bin/env', 'VC_INNER=i'], env: { VC_PART: 'p' }, bwrapArgs: mode === 'sandboxed' ? ['--setenv', 'VC_BWRAP', 'b'] : [] }, null);
      const egress = recordingPart({ env: { VC_EGRESS: 'e' } }, 'egress says why');
      const out = await runCommand(params('sh', ['-c', 'echo "$VC_INNER $VC_PART $VC_EGRESS ${VC_BWRAP-} ${VC_OUTER-}"']), contextOn(host).ctx, [limits.part, egress.part]);
      // Inside the sandbox, bwrap's --clearenv drops what outer set on the host; unconfined it passes.
      assert.equal(out.stdout, mode === 'sandboxed' ? 'i p e b \n' : 'i p e  o\n');
      assert.equal(limits.seen.started.length, 1);
      assert.deepEqual(egress.seen.started, limits.seen.started);
      assert.deepEqual([limits.seen.finished, egress.seen.finished], [1, 1]);
      assert.equal(out.stoppedBy, 'egress says why');
    });
  }

  test('a part that stops its command ends it and says why; a refused command still releases every part', async () => {
    const host = sandboxedHost();
    const stopper = recordingPart({}, null, 'over the memory limit');
    const out = await runCommand(params('sleep', ['30']), contextOn(host).ctx, [stopper.part]);
    assert.equal(out.stoppedBy, 'over the memory limit');
    assert.ok(out.durationMs < 20_000);
    const released = recordingPart({}, null);
    await assert.rejects(runCommand(params(join(ws.outside, 'x'), []), contextOn(host).ctx, [released.part]), /outside what a command can see/);
    assert.equal(released.seen.finished, 1);
  });
});
