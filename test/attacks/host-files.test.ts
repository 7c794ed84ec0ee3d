// Attacks on the files broker and agent keep on their hosts (issue 13, findings 6 and 9): a user granted
// only read_file or write_file must not reach the agent's key or pin through a default layout, and no other
// local user may read a database, its WAL or SHM, the audit log or the operator socket. Real processes from
// dist/, real directories with the modes an operator would find on disk.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { IdType, SecretIdentity } from '../../core/identity';
import { LogTail, ROOT, tempDir, waitFor } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

const started = new Started();
after(() => started.cleanup());

/** A broker DID to pin: these agents never reach a broker, they must stop before they try. */
const PINNED = SecretIdentity.generate(IdType.Machine).did;
/** Nothing listens on the discard port of loopback: an agent that does start only retries there. */
const NOWHERE = 'ws://127.0.0.1:9';

interface Outcome {
  /** null: the process was still running when it logged `startedEvent` (it was then killed by its pid). */
  code: number | null;
  stderr: string;
}

/**
 * Runs dist/<entry>.js until it exits or logs `startedEvent` (then kills it by pid): a refusal is an exit,
 * a process that accepted what it should have refused is one that started.
 */
async function runUntilStartedOrExit(entry: 'agent' | 'broker', args: string[], startedEvent: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Outcome> {
  const child = spawn(process.execPath, [join(ROOT, 'dist', `${entry}.js`), ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log = new LogTail();
  log.attach(child);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const how = await waitFor(`${entry} to exit or start`, () => (child.exitCode !== null ? 'exited' : log.find(startedEvent) ? 'started' : false), 20_000);
    if (how === 'started') return { code: null, stderr: log.raw.join('\n') };
    await exit;
    // Let the last stderr chunk arrive.
    await new Promise((r) => setTimeout(r, 50));
    return { code: child.exitCode, stderr: log.raw.join('\n') };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  }
}

function agentInit(stateDir: string, extra: string[] = [], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Outcome> {
  return runUntilStartedOrExit('agent', ['init', '--broker', PINNED, '--state-dir', stateDir, ...extra], 'never', options);
}

/** A home directory with nothing in it but what `agent init` puts there: the layout of a first install. */
function freshHome(): { home: string; env: NodeJS.ProcessEnv; stateDir: string } {
  const home = tempDir('home');
  started.dirs.push(home);
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, VAULTYSCLAW_LOG_LEVEL: 'debug' };
  delete env.VAULTYSCLAW_AGENT_DIR;
  return { home, env, stateDir: join(home, '.vaultysclaw', 'agent') };
}

describe("finding 6: the agent's key inside its own sandbox", () => {
  test('attack: `agent init` then `agent start` from $HOME with default flags: start refuses the workspace that holds agent.key, saying what to do', async () => {
    const { home, env, stateDir } = freshHome();
    const init = await runUntilStartedOrExit('agent', ['init', '--broker', PINNED], 'never', { cwd: home, env });
    assert.equal(init.code, 0, init.stderr);
    assert.ok(existsSync(join(stateDir, 'agent.key')), 'init used the default state directory under $HOME');

    const start = await runUntilStartedOrExit('agent', ['start', '--broker-url', NOWHERE], 'agent.started', { cwd: home, env });
    assert.notEqual(start.code, null, 'the agent started serving a workspace that holds its own key and pin');
    assert.equal(start.code, 1, start.stderr);
    assert.ok(
      start.stderr.includes(`the workspace ${home} contains the agent's state directory ${stateDir}`),
      `the refusal names both directories: ${start.stderr}`,
    );
    assert.match(start.stderr, /give --workspace a directory that does not contain it/);
    // init has no workspace yet; it warned that starting from here would be refused.
    assert.match(init.stderr, /contains the agent's state directory/);
  });

  test('`agent init --workspace` refuses a workspace that would contain the state directory, and creates nothing', async () => {
    const { home, env, stateDir } = freshHome();
    const init = await agentInit(stateDir, ['--workspace', home], { env });
    assert.equal(init.code, 1, init.stderr);
    assert.match(init.stderr, /contains the agent's state directory/);
    assert.equal(existsSync(join(stateDir, 'agent.key')), false, 'no key was created');
  });

  test('`agent start` refuses a state directory reached inside the workspace through a symbolic link', async () => {
    const { home, env } = freshHome();
    const workspace = join(home, 'ws');
    mkdirSync(join(workspace, 'real-state'), { recursive: true, mode: 0o700 });
    const stateDir = join(home, 'state-link');
    symlinkSync(join(workspace, 'real-state'), stateDir);
    assert.equal((await agentInit(stateDir, [], { env })).code, 0);
    const start = await runUntilStartedOrExit('agent', ['start', '--broker-url', NOWHERE, '--state-dir', stateDir, '--workspace', workspace], 'agent.started', { env });
    assert.equal(start.code, 1, start.stderr);
    assert.match(start.stderr, /contains the agent's state directory/);
  });
});

/** Every entry under `dir`, with its permission bits. */
function modes(dir: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const name of readdirSync(dir, { recursive: true }) as string[]) found.set(name, lstatSync(join(dir, name)).mode & 0o777);
  return found;
}

function assertPrivate(dir: string, expected: string[]): void {
  const found = modes(dir);
  for (const name of expected) assert.ok(found.has(name), `${name} exists in ${dir} (found ${[...found.keys()].join(', ')})`);
  for (const [name, mode] of found) assert.equal(mode & 0o077, 0, `${name} is mode ${mode.toString(8)}: other users can reach it`);
}

describe('finding 9: files created readable by other users', () => {
  test('attack: a pre-existing 0755 data directory: the broker refuses to start, printing the chmod to run, and creates no database', async () => {
    const dataDir = tempDir('broker-shared');
    started.dirs.push(dataDir);
    chmodSync(dataDir, 0o755);
    const outcome = await runUntilStartedOrExit('broker', ['start', '--data-dir', dataDir, '--port', '0'], 'broker.started');
    assert.notEqual(outcome.code, null, 'the broker started in a directory other users can read');
    assert.equal(outcome.code, 1, outcome.stderr);
    assert.ok(outcome.stderr.includes(`run: chmod 700 ${dataDir}`), outcome.stderr);
    assert.equal(existsSync(join(dataDir, 'broker.db')), false);
  });

  test('attack: a pre-existing 0750 agent state directory is refused at init and at start, with the chmod to run', async () => {
    const { env } = freshHome();
    const stateDir = tempDir('agent-shared');
    started.dirs.push(stateDir);
    chmodSync(stateDir, 0o750);
    const init = await agentInit(stateDir, [], { env });
    assert.equal(init.code, 1, init.stderr);
    assert.ok(init.stderr.includes(`run: chmod 700 ${stateDir}`), init.stderr);
    assert.equal(existsSync(join(stateDir, 'agent.key')), false);

    chmodSync(stateDir, 0o700);
    assert.equal((await agentInit(stateDir, [], { env })).code, 0);
    chmodSync(stateDir, 0o755);
    const workspace = tempDir('agent-ws');
    started.dirs.push(workspace);
    const start = await runUntilStartedOrExit('agent', ['start', '--broker-url', NOWHERE, '--state-dir', stateDir, '--workspace', workspace], 'agent.started', { env });
    assert.notEqual(start.code, null, 'the agent started with a state directory other users can read');
    assert.equal(start.code, 1, start.stderr);
    assert.ok(start.stderr.includes(`run: chmod 700 ${stateDir}`), start.stderr);
    assert.equal(existsSync(join(stateDir, 'agent.db')), false, 'no database was created');
  });

  test('in 0700 directories, every file broker and agent create is 0600 after real use: databases with their -wal and -shm, audit log, socket, keys, pin', async () => {
    const broker = await started.broker();
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did });
    await waitFor('the agent to be a pending, online registration', async () =>
      (await broker.client.call('registrationsList', {})).items.find((r) => r.did === agent.did && r.online),
    );
    await broker.client.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['list_files'], maxRequestsPerHour: 100 } });
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
    const { id } = await broker.client.call('intentsDispatch', { agent: agent.did, capability: 'list_files', params: { path: '.' } });
    await waitFor('the intent to succeed', async () => (await broker.client.call('intentsGet', { id })).state === 'succeeded');
    // While both run: WAL and SHM exist only until a clean close.
    assertPrivate(broker.dataDir, ['broker.db', 'broker.db-wal', 'broker.db-shm', 'audit.log', 'broker.sock']);
    assertPrivate(agent.stateDir, ['agent.db', 'agent.db-wal', 'agent.db-shm', 'agent.key', 'broker-pin.json']);
  });
});
