// Attacks on the agent's host resources from inside an approved run_command (issue 14, "resource limits"): a fork
// bomb, memory hogs, a file past the file-size limit, writes past the intent's workspace allowance (also from an
// llm_task, whose commands share one allowance), and CPU spins. Real broker and agent processes from dist/, real
// bubblewrap, limits set by the agent's operator flags (agent start --max-*). Each attack ends its own command with
// the limit named in the signed output, the agent keeps serving, and an honest command right after runs.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunCommandOutput } from '../../agent/tools';
import { approveAgent, assertSucceeded, call, finalIntent, ownerOf, runAs, type Member } from './support/team';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { cgroupLayout } from '../../agent/confinement/command-cgroup';
import { processesWith, killProcesses } from '../support/host-processes';
import { answers, callsTools, ScriptedModel, toolResults } from '../support/scripted-model';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

const MiB = 1024 * 1024;
/** The host's ceilings in these tests: far under the defaults, so each attack reaches its limit quickly. */
const CEILINGS = { cpuSeconds: 2, memoryBytes: 256 * MiB, processes: 32, fileBytes: 8 * MiB, workspaceWriteBytes: 32 * MiB };
const CEILING_FLAGS = ['--max-cpu-seconds', '2', '--max-memory', '256M', '--max-processes', '32', '--max-file-size', '8M', '--max-workspace-writes', '32M'];
/** Far longer than any limit needs: a command that reaches it was not stopped by its limit. */
const TIMEOUT_MS = 60_000;
/**
 * Writes `count` files of 1 MiB, one every 20 ms or so: slow enough that the agent's watch (every 200 ms) stops it
 * mid-way once it passes what is left of the allowance. Two runs of 21 pass a 32 MiB allowance.
 */
const slowWrite = (prefix: string, count: number) => `i=0; while [ $i -lt ${count} ]; do head -c ${MiB} /dev/zero > ${prefix}$i; i=$((i + 1)); sleep 0.02; done`;

/** Bytes of the workspace's files whose names start with `prefix`. */
function bytesOf(workspace: string, prefix: string): number {
  return readdirSync(workspace)
    .filter((name) => name.startsWith(prefix))
    .reduce((sum, name) => sum + statSync(join(workspace, name)).size, 0);
}

describe('resource limits end the command that passes them, not the agent', () => {
  const started = new Started();
  let broker: BrokerProcess;
  let model: ScriptedModel;
  let owner: Member;
  let agent: AgentProcess;

  const run = async (command: string, args: string[]): Promise<RunCommandOutput> => {
    // Waited for as long as the command may run: a CPU limit is CPU time, which a loaded machine hands out slowly.
    const view = await runAs(owner, agent.did, 'run_command', { command, args, cwd: '.', timeoutMs: TIMEOUT_MS }, TIMEOUT_MS);
    assertSucceeded(view);
    return view.output as RunCommandOutput;
  };
  const sh = (script: string) => run('sh', ['-c', script]);
  /** Ended by `limit`, well before its wall-time limit, with a sentence saying so. */
  const assertStoppedBy = (out: RunCommandOutput, limit: RunCommandOutput['limit']) => {
    assert.equal(out.limit, limit, `limit ${String(out.limit)}, exit ${out.exitCode}/${out.signal}: ${out.stderr.slice(-300)}`);
    assert.equal(out.timedOut, false, 'the command ran until its wall-time limit');
    assert.notEqual(out.exitCode, 0);
    assert.match(out.limitMessage ?? '', /^stopped by the /);
  };
  /** The agent is alive and an honest command right after the attack runs. */
  const assertServing = async () => {
    assert.equal(agent.child.exitCode, null, 'the agent exited');
    const out = await run('node', ['-e', 'console.log(6 * 7)']);
    assert.equal(out.exitCode, 0, out.stderr);
    assert.equal(out.stdout, '42\n');
    assert.equal(out.limit, null);
  };

  before(async () => {
    model = await ScriptedModel.start();
    broker = await started.broker();
    owner = ownerOf(broker);
    agent = await started.agent({
      brokerUrl: broker.url,
      brokerDid: broker.did,
      request: 'llm_task,read_file,list_files,run_command',
      args: ['--model-url', model.url, '--model', 'scripted-model', '--model-key-env', 'VC_TEST_MODEL_KEY', ...CEILING_FLAGS],
      env: { VC_TEST_MODEL_KEY: 'sk-test' },
    });
    await approveAgent(owner, agent, { capabilities: ['llm_task', 'read_file', 'list_files', 'run_command'], maxTokensPerDay: 1_000_000, maxRequestsPerHour: 1000 });
  });

  after(async () => {
    await started.cleanup();
    await model?.close();
  });

  test('a fork bomb is stopped at the process limit, and nothing it forked is left', async () => {
    const marker = `vc-fork-bomb-${process.pid}-${Date.now()}`;
    // Every copy is a fork of this shell, so every copy's command line carries the marker ($0).
    const out = await run('sh', ['-c', 'b() { b | b & }; b; sleep 50', marker]);
    assertStoppedBy(out, 'processes');
    assert.match(out.limitMessage!, new RegExp(`${CEILINGS.processes} processes`));
    assert.deepEqual(processesWith(marker), [], 'copies of the fork bomb outlived its command');
    await assertServing();
  });

  test('a memory hog (node, then python3) is stopped at the memory limit', async () => {
    assertStoppedBy(await run('node', ['-e', 'const kept = []; for (;;) kept.push(Buffer.alloc(1 << 20, 1))']), 'memory');
    assertStoppedBy(await run('python3', ['-c', 'kept = []\nwhile True: kept.append(bytearray(1 << 20))']), 'memory');
    await assertServing();
  });

  test('a file written past the file-size limit is cut there and the command stopped', async () => {
    const out = await sh(`head -c ${20 * MiB} /dev/zero > big.bin`);
    assertStoppedBy(out, 'file-size');
    assert.equal(statSync(join(agent.workspace, 'big.bin')).size, CEILINGS.fileBytes);
    await assertServing();
  });

  test('a CPU spin is stopped at the CPU limit: one process, and several whose CPU time adds up', async () => {
    assertStoppedBy(await run('node', ['-e', 'for (;;);']), 'cpu');
    // Four spinners of half the limit each: every process stays under RLIMIT_CPU, the command does not.
    const spread = await sh('for i in 1 2 3 4; do (while :; do :; done) & done; wait');
    assertStoppedBy(spread, 'cpu');
    await assertServing();
  });

  test("writes past the intent's workspace allowance stop the command mid-way; the next intent has a fresh allowance", async () => {
    const out = await sh(slowWrite('flood', 200));
    assertStoppedBy(out, 'workspace-writes');
    const written = bytesOf(agent.workspace, 'flood');
    assert.ok(written >= CEILINGS.workspaceWriteBytes - MiB && written < 100 * MiB, `wrote ${written} bytes of 200 MiB before it was stopped`);
    // Each intent starts with the whole allowance: two of these in a row both pass.
    for (const prefix of ['honest-a', 'honest-b']) {
      const honest = await sh(slowWrite(prefix, 21));
      assert.equal(honest.exitCode, 0, honest.stderr);
      assert.equal(honest.limit, null);
      assert.equal(bytesOf(agent.workspace, prefix), 21 * MiB);
    }
    await assertServing();
  });

  test("from an llm_task: two commands share one allowance; the second passes it and the third is refused", async () => {
    const from = model.requests.length;
    const write = (prefix: string) => ({ name: 'run_command', args: { command: 'sh', args: ['-c', slowWrite(prefix, 21)], cwd: '.', timeoutMs: TIMEOUT_MS } });
    model.play([callsTools([write('task-a'), write('task-b')], 100), callsTools([write('task-c')], 100), answers('done', 50)]);
    const sent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'llm_task', params: { instruction: 'fill the disk', maxSteps: 3 } });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    assertSucceeded(await finalIntent(owner, sent.id, 60_000));
    const [first, second] = toolResults(model.requests[from + 1]!);
    assert.equal(first!.status, 'done', JSON.stringify(first));
    assert.equal((first!.output as RunCommandOutput).limit, null);
    assert.equal(second!.status, 'done', JSON.stringify(second));
    assertStoppedBy(second!.output as RunCommandOutput, 'workspace-writes');
    // The next request carries the whole conversation: the third result is the newest.
    const [, , third] = toolResults(model.requests[from + 2]!);
    assert.equal(third!.status, 'failed', JSON.stringify(third));
    assert.match(String(third!.message), /workspace write allowance is spent/);
    assert.equal(bytesOf(agent.workspace, 'task-c'), 0, 'the refused command never ran');
    await assertServing();
  });
});

describe('honest build work runs under the default limits', () => {
  const started = new Started();
  let owner: Member;
  let agent: AgentProcess;

  before(async () => {
    const broker = await started.broker();
    owner = ownerOf(broker);
    agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'run_command' });
    await approveAgent(owner, agent, { capabilities: ['run_command'], maxTokensPerDay: 1000, maxRequestsPerHour: 1000 });
  });
  after(() => started.cleanup());

  test('node, npm test, git, make and python3 run; a few processes and a few hundred MB are nowhere near a limit', async () => {
    const ok = async (command: string, args: string[]) => {
      const view = await runAs(owner, agent.did, 'run_command', { command, args, cwd: '.', timeoutMs: TIMEOUT_MS });
      assertSucceeded(view);
      const out = view.output as RunCommandOutput;
      assert.equal(out.exitCode, 0, `${command} ${args.join(' ')}: ${out.stderr.slice(-500)}`);
      assert.equal(out.limit, null);
      return out;
    };
    assert.equal((await ok('node', ['-e', 'const b = Buffer.alloc(300 << 20, 1); console.log(b.length >> 20)'])).stdout, '300\n');
    await ok('sh', ['-c', `printf '{"name":"p","version":"1.0.0","scripts":{"test":"node --test"}}' > package.json && mkdir -p test && echo "require('node:test')('adds', () => require('node:assert').equal(1 + 1, 2))" > test/a.test.js`]);
    assert.match((await ok('npm', ['test'])).stdout, /pass 1/);
    await ok('git', ['init', '-q', '.']);
    await ok('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-q', '--allow-empty', '-m', 'first']);
    await ok('sh', ['-c', "printf 'all:\\n\\t@echo built\\n' > Makefile"]);
    assert.equal((await ok('make', ['-j8'])).stdout, 'built\n');
    assert.equal((await ok('python3', ['-c', 'print(sum(range(10 ** 6)))'])).stdout, '499999500000\n');
    // Sixteen processes at once, under the default of BUDGETS.commandProcesses.
    await ok('sh', ['-c', 'for i in $(seq 16); do sleep 0.5 & done; wait']);
  });
});

describe('a command does not outlive an agent killed under it', () => {
  const started = new Started();
  let owner: Member;
  let broker: BrokerProcess;
  const strays: number[] = [];

  before(async () => {
    broker = await started.broker();
    owner = ownerOf(broker);
  });
  after(async () => {
    killProcesses(strays);
    await started.cleanup();
  });

  test('kill -9 of the agent mid-command ends the command; the next agent to start removes the cgroup it left', async () => {
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'run_command' });
    await approveAgent(owner, agent, { capabilities: ['run_command'], maxTokensPerDay: 1000, maxRequestsPerHour: 1000 });
    const marker = `vc-outlive-agent-${process.pid}-${Date.now()}`;
    const sent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'run_command', params: { command: 'sh', args: ['-c', 'touch running; sleep 60', marker], cwd: '.', timeoutMs: TIMEOUT_MS } });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    // The command itself runs (not only the launchers, whose command lines carry the marker too).
    await waitFor('the command to run', () => existsSync(join(agent.workspace, 'running')), 10_000);
    const agentPid = agent.child.pid!;
    process.kill(agentPid, 'SIGKILL');
    const left = await waitFor('the command to end with its agent', () => processesWith(marker).length === 0, 5_000).catch(() => {
      strays.push(...processesWith(marker));
      return false;
    });
    assert.equal(left, true, 'the command kept running after its agent was killed');

    const leftover = (name: string) => name.startsWith(`vaultysclaw-${agentPid}-`);
    const parent = cgroupLayout()!.pids;
    assert.ok(readdirSync(parent).some(leftover), 'a killed agent cannot remove its command cgroup: the next start must');
    await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'run_command' });
    await waitFor('the leftover cgroup to be removed', () => existsSync(parent) && !readdirSync(parent).some(leftover), 10_000);
  });
});
