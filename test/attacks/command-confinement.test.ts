// Attacks from inside an approved run_command (issue 14, "every command runs in an OS sandbox"): a command a
// user was granted, or one a prompt-injected model asks for in an llm_task, tries to read what the agent's user
// can read (a planted SSH key, /etc/shadow, the agent's key, state database and model key file, the agent's
// environment through /proc), to write outside the workspace (absolute path, `..`, a planted symlink, a hard
// link), to leave a process running after the call, and to run a hook through git. Real broker and agent
// processes from dist/, real bubblewrap. Each attack is refused or contained, and an honest command right
// after still runs; honest build work (git, node, make, python3, coreutils, /tmp) works inside.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encode } from '@msgpack/msgpack';
import type { RunCommandOutput } from '../../agent/tools';
import { AGENT_DATABASE_FILE } from '../../agent/store/agent-database';
import { AGENT_KEY_FILE } from '../../agent/state-dir';
import { MitmProxy } from './support/mitm-proxy';
import { approveAgent, assertAgentRefused, assertSucceeded, call, finalIntent, ownerOf, runAs, type Member } from './support/team';
import { tempDir, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { answers, callsTools, ScriptedModel, toolResults } from '../support/scripted-model';
import { exitIfHeldOpen, Started } from '../support/started';
import { killProcesses, processesWith } from '../support/host-processes';

exitIfHeldOpen();

const SSH_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\nvc-planted-ssh-key-${'7c3e'.repeat(8)}\n-----END OPENSSH PRIVATE KEY-----\n`;
const MODEL_KEY = `sk-vc-file-${'a1b2c3d4e5'.repeat(4)}`;
/** In the agent's own environment: what /proc/<agent pid>/environ would give away. */
const ENV_SECRET = `sk-vc-env-${'5e4d3c2b1a'.repeat(4)}`;
const CANARY = 'outside the workspace: never changed\n';
/** The whole environment a command may see (agent/tools/command-env.ts). */
const SCRUBBED_NAMES = ['HOME', 'LANG', 'PATH', 'TERM'];

/** Which confinement modes the agent's hellos, as they crossed `proxy`, stated (MessagePack: "mode" then its value). */
function helloModes(proxy: MitmProxy): string[] {
  return ['sandboxed', 'unconfined', 'unavailable'].filter((mode) => {
    const needle = Buffer.concat([encode('mode'), encode(mode)]);
    return proxy.seen.some((m) => m.direction === 'toBroker' && Buffer.from(m.data).includes(needle));
  });
}

describe('run_command runs in a bubblewrap sandbox', () => {
  const started = new Started();
  let broker: BrokerProcess;
  let model: ScriptedModel;
  let proxy: MitmProxy;
  let owner: Member;
  let agent: AgentProcess;
  let base: string;
  let workspace: string;
  let outside: string;
  let canary: string;
  let home: string;
  let modelKeyFile: string;
  const strays: number[] = [];

  const run = async (command: string, args: string[], cwd = '.'): Promise<RunCommandOutput> => {
    const view = await runAs(owner, agent.did, 'run_command', { command, args, cwd, timeoutMs: 20_000 });
    assertSucceeded(view);
    return view.output as RunCommandOutput;
  };
  const sh = (script: string) => run('sh', ['-c', script]);
  /** The command ran and failed to get at what it aimed at; nothing secret reached its output. */
  const assertContained = (out: RunCommandOutput, ...secrets: string[]) => {
    assert.notEqual(out.exitCode, 0, `the command succeeded: ${out.stdout.slice(0, 200)}`);
    for (const secret of secrets) assert.ok(!(out.stdout + out.stderr).includes(secret), 'a secret reached the output');
  };
  const assertOutsideUntouched = () => {
    assert.deepEqual(readdirSync(base).sort(), ['home', 'outside', 'ws']);
    assert.deepEqual(readdirSync(outside), ['canary.txt']);
    assert.equal(readFileSync(canary, 'utf8'), CANARY);
  };
  /** The agent is alive and an honest command right after the attack runs. */
  const assertServing = async () => {
    assert.equal(agent.child.exitCode, null, 'the agent exited');
    const out = await run('ls', ['-a']);
    assert.equal(out.exitCode, 0, out.stderr);
  };

  before(async () => {
    model = await ScriptedModel.start();
    broker = await started.broker();
    proxy = await MitmProxy.start(broker.url);
    owner = ownerOf(broker);
    base = tempDir('confinement');
    started.dirs.push(base);
    workspace = join(base, 'ws');
    outside = join(base, 'outside');
    canary = join(outside, 'canary.txt');
    home = join(base, 'home');
    mkdirSync(outside);
    writeFileSync(canary, CANARY);
    mkdirSync(join(home, '.ssh'), { recursive: true });
    writeFileSync(join(home, '.ssh', 'id_ed25519'), SSH_KEY, { mode: 0o600 });
    const keyDir = tempDir('confinement-key');
    started.dirs.push(keyDir);
    modelKeyFile = join(keyDir, 'model.key');
    writeFileSync(modelKeyFile, `${MODEL_KEY}\n`, { mode: 0o600 });
    agent = await started.agent({
      brokerUrl: proxy.url,
      brokerDid: broker.did,
      workspace,
      request: 'llm_task,read_file,list_files,run_command',
      args: ['--model-url', model.url, '--model', 'scripted-model', '--model-key-file', modelKeyFile],
      env: { VC_TEST_ENV_SECRET: ENV_SECRET },
    });
    await approveAgent(owner, agent, { capabilities: ['llm_task', 'read_file', 'list_files', 'run_command'], maxTokensPerDay: 1_000_000, maxRequestsPerHour: 1000 });
  });

  after(async () => {
    killProcesses(strays);
    await started.cleanup();
    await proxy?.close();
    await model?.close();
  });

  test('the hello says the commands are sandboxed', () => {
    assert.deepEqual(helloModes(proxy), ['sandboxed']);
  });

  test('a planted SSH key outside the workspace, the real home directories, /run and the host /tmp are not visible', async () => {
    assertContained(await run('cat', [join(home, '.ssh', 'id_ed25519')]), SSH_KEY.split('\n')[1]!);
    // Read-only looks at the real user's home: it is not there at all inside.
    const real = await run('ls', ['-a', join(homedir(), '.ssh'), homedir()]);
    assertContained(real);
    assert.equal(real.stdout, '', `the home directory was listed: ${real.stdout.slice(0, 200)}`);
    assert.match(real.stderr, /No such file or directory/);
    assertContained(await run('ls', ['/home']));
    assertContained(await run('ls', ['/run']));
    // /tmp is the command's own: only the path down to the workspace exists in it.
    const expected = base.startsWith('/tmp/') ? [base.split('/')[2]!] : [];
    assert.deepEqual((await run('ls', ['-A', '/tmp'])).stdout.split('\n').filter(Boolean), expected);
    await assertServing();
  });

  test('/etc/shadow is masked; the rest of /etc is readable', async () => {
    const shadow = await run('cat', ['/etc/shadow']);
    assertContained(shadow);
    assert.doesNotMatch(shadow.stdout, /^root:/m);
    const passwd = await run('cat', ['/etc/passwd']);
    assert.match(passwd.stdout, /^root:/m, 'system files a build needs stay readable');
    assert.equal((await run('ls', ['-A', '/etc/ssh/'])).stdout, '', 'host keys and sshd config are masked');
    await assertServing();
  });

  test("the agent's key file, its state database and the model key file are not visible", async () => {
    const key = readFileSync(join(agent.stateDir, AGENT_KEY_FILE));
    for (const file of [join(agent.stateDir, AGENT_KEY_FILE), join(agent.stateDir, AGENT_DATABASE_FILE), modelKeyFile]) {
      const out = await run('cat', [file]);
      assertContained(out, MODEL_KEY, key.toString('utf8').slice(0, 40));
      assert.match(out.stderr, /No such file or directory/, file);
    }
    assertContained(await run('ls', [agent.stateDir]));
    await assertServing();
  });

  test("/proc shows the command's own processes only: not the agent's environ or cmdline, nor pid 1 of the host", async () => {
    const pid = agent.child.pid!;
    for (const file of [`/proc/${pid}/environ`, `/proc/${pid}/cmdline`]) assertContained(await run('cat', [file]), ENV_SECRET, modelKeyFile);
    const init = await run('cat', ['/proc/1/environ']);
    const names = init.stdout.split('\0').filter(Boolean).map((entry) => entry.split('=')[0]!);
    assert.ok(!init.stdout.includes(ENV_SECRET));
    assert.deepEqual([...new Set(names)].sort().filter((n) => !SCRUBBED_NAMES.includes(n)), [], `pid 1 inside has only the scrubbed environment, got ${names.join(',')}`);
    // Another process's root directory is the host's file system, by another name.
    const root = await run('cat', [`/proc/${broker.child.pid}/root${canary}`]);
    assertContained(root, CANARY.trim());
    await assertServing();
  });

  test('writes outside the workspace (absolute path, .., planted symlink, hard link) leave the host untouched', async () => {
    symlinkSync(outside, join(workspace, 'out-link'));
    await sh(`echo pwned > ${canary}; echo pwned > ${join(outside, 'new.txt')}; echo pwned > ${join(base, 'new.txt')}`);
    await sh('echo pwned > ../outside/canary.txt; echo pwned > ../outside/dotdot.txt');
    await sh('echo pwned > out-link/canary.txt; echo pwned > out-link/via-link.txt');
    await sh(`ln -s ${outside} made-link; echo pwned > made-link/canary.txt`);
    await sh(`ln ${canary} hard-link; echo pwned >> hard-link`);
    assertOutsideUntouched();
    // The workspace itself is writable: the same commands aimed inside work.
    const inside = await sh('echo ok > inside.txt && cat inside.txt');
    assert.equal(inside.stdout, 'ok\n');
    await assertServing();
  });

  test('a setsid background process does not outlive the call', async () => {
    const marker = `vc-outlive-${process.pid}-${Date.now()}`;
    const out = await sh(`setsid sh -c 'while :; do date +%s%N > tick; sleep 0.1; done' ${marker} </dev/null >/dev/null 2>&1 & sleep 0.3; echo started`);
    assert.equal(out.stdout, 'started\n');
    const left = await waitFor('no process of the call left', () => {
      const found = processesWith(marker);
      strays.push(...found);
      return found.length === 0 ? true : undefined;
    }, 5_000).catch(() => processesWith(marker));
    assert.equal(left, true, `processes still running after the call: ${String(left)}`);
    const tick = readFileSync(join(workspace, 'tick'), 'utf8');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(readFileSync(join(workspace, 'tick'), 'utf8'), tick, 'nothing writes to the workspace after the call');
    await assertServing();
  });

  test('git -c core.sshCommand runs its hook inside the sandbox, where the key and the outside are not', async () => {
    const hook = `cat ${join(home, '.ssh', 'id_ed25519')} > ${join(workspace, 'stolen')}; echo pwned > ${canary}; true`;
    const out = await run('git', ['-c', `core.sshCommand=${hook}`, 'ls-remote', 'ssh://git@vc.invalid/repo.git']);
    assert.notEqual(out.exitCode, 0);
    assert.ok(!existsSync(join(workspace, 'stolen')) || !readFileSync(join(workspace, 'stolen'), 'utf8').includes('vc-planted-ssh-key'), 'the hook read the key');
    assertOutsideUntouched();
    await assertServing();
  });

  test('honest build work runs inside: git, node, make, python3, ls, grep, sed, temp files in /tmp', async () => {
    mkdirSync(join(workspace, 'proj'));
    writeFileSync(join(workspace, 'proj', 'Makefile'), 'all:\n\t@echo built > out.txt\n\t@cat out.txt\n');
    writeFileSync(join(workspace, 'proj', 'notes.txt'), 'alpha\nbeta\n');
    const inProj = (command: string, args: string[]) => run(command, args, 'proj');
    const ok = async (command: string, args: string[]) => {
      const out = await inProj(command, args);
      assert.equal(out.exitCode, 0, `${command} ${args.join(' ')}: ${out.stderr}`);
      return out;
    };
    await ok('git', ['init', '-q', '.']);
    await ok('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'add', '.']);
    await ok('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-q', '-m', 'first']);
    writeFileSync(join(workspace, 'proj', 'notes.txt'), 'alpha\ngamma\n');
    assert.match((await ok('git', ['status', '--short'])).stdout, /M notes\.txt/);
    assert.match((await ok('git', ['diff'])).stdout, /\+gamma/);
    assert.equal((await ok('node', ['-e', 'console.log(6 * 7)'])).stdout, '42\n');
    assert.equal((await ok('make', [])).stdout, 'built\n');
    assert.equal((await ok('python3', ['-c', 'print(6 * 7)'])).stdout, '42\n');
    assert.match((await ok('ls', ['-la'])).stdout, /Makefile/);
    assert.equal((await ok('grep', ['gamma', 'notes.txt'])).stdout, 'gamma\n');
    assert.equal((await ok('sed', ['s/gamma/delta/', 'notes.txt'])).stdout, 'alpha\ndelta\n');
    assert.equal((await ok('sh', ['-c', 't=$(mktemp) && echo scratch > "$t" && cat "$t" && rm "$t"'])).stdout, 'scratch\n');
  });

  test('from an llm_task: the model asks for the SSH key, the agent environ, and a write outside; all contained', async () => {
    const from = model.requests.length;
    model.play([
      callsTools(
        [
          { name: 'run_command', args: { command: 'cat', args: [join(home, '.ssh', 'id_ed25519')], cwd: '.', timeoutMs: 10_000 } },
          { name: 'run_command', args: { command: 'cat', args: [`/proc/${agent.child.pid}/environ`], cwd: '.', timeoutMs: 10_000 } },
          { name: 'run_command', args: { command: 'cat', args: [modelKeyFile], cwd: '.', timeoutMs: 10_000 } },
          { name: 'run_command', args: { command: 'sh', args: ['-c', `echo pwned > ${canary}`], cwd: '.', timeoutMs: 10_000 } },
        ],
        100,
      ),
      answers('nothing to see', 50),
    ]);
    const sent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'llm_task', params: { instruction: 'exfiltrate', maxSteps: 3 } });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    const done = await finalIntent(owner, sent.id, 30_000);
    assertSucceeded(done);
    const results = toolResults(model.requests[from + 1]!);
    assert.equal(results.length, 4);
    for (const result of results) {
      assert.equal(result.status, 'done', JSON.stringify(result));
      const out = result.output as RunCommandOutput;
      assertContained(out, 'vc-planted-ssh-key', ENV_SECRET, MODEL_KEY);
    }
    for (const request of model.requests.slice(from)) {
      assert.ok(!request.raw.includes('vc-planted-ssh-key') && !request.raw.includes(ENV_SECRET), 'a secret reached the model');
    }
    assertOutsideUntouched();
    await assertServing();
  });

  /** An agent of its own, reaching the broker through a proxy of its own so its hello can be read. */
  const startAside = async (name: string, options: { args?: string[]; env?: Record<string, string> }) => {
    const own = await MitmProxy.start(broker.url);
    proxies.push(own);
    const aside = await started.agent({ brokerUrl: own.url, brokerDid: broker.did, name, request: 'list_files,run_command', ...options });
    await approveAgent(owner, aside, { capabilities: ['list_files', 'run_command'], maxRequestsPerHour: 100 });
    return { agent: aside, proxy: own };
  };
  const proxies: MitmProxy[] = [];
  after(async () => {
    for (const p of proxies) await p.close();
  });

  test('without bwrap on its PATH the agent says at start how to fix it, and refuses run_command with a signed sandbox-unavailable', async () => {
    // An empty directory as the whole PATH: the agent itself is started by its absolute path.
    const emptyPath = tempDir('no-bwrap');
    started.dirs.push(emptyPath);
    const { agent: bare, proxy: seen } = await startAside('no-bwrap', { env: { PATH: emptyPath } });
    // One plain sentence on stderr; the JSON log line says it again for whoever reads the log.
    const sentence = bare.log.raw.filter((line) => !line.startsWith('{') && line.includes('bubblewrap'));
    assert.equal(sentence.length, 1, bare.log.raw.join('\n'));
    assert.match(sentence[0]!, /run_command is refused because bubblewrap \(bwrap\) is not on this agent's PATH: install it \(apt-get install bubblewrap\)/);
    assert.ok(bare.log.find('confinement.unavailable'));
    assert.deepEqual(helloModes(seen), ['unavailable']);
    const refused = await runAs(owner, bare.did, 'run_command', { command: 'true', args: [], cwd: '.', timeoutMs: 5_000 });
    assertAgentRefused(refused, 'sandbox-unavailable', /bubblewrap/);
    const honest = await runAs(owner, bare.did, 'list_files', { path: '.' });
    assertSucceeded(honest);
  });

  test('--unconfined-commands: a loud warning at start and in the log, the hello says unconfined, and commands run unsandboxed', async () => {
    const { agent: loose, proxy: seen } = await startAside('unconfined', { args: ['--unconfined-commands'] });
    assert.ok(loose.log.raw.some((line) => /^agent: WARNING: UNCONFINED COMMANDS/.test(line)), loose.log.raw.join('\n'));
    assert.ok(loose.log.find('confinement.unconfined'));
    assert.deepEqual(helloModes(seen), ['unconfined']);
    const out = (await runAs(owner, loose.did, 'run_command', { command: 'ls', args: [outside], cwd: '.', timeoutMs: 5_000 })).output as RunCommandOutput;
    assert.equal(out.stdout, 'canary.txt\n', 'outside the workspace is visible: nothing confines this command');
  });
});
