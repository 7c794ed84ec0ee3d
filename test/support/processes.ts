import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BrokerClient } from '../../broker/cli/broker-client';
import { databaseArgs } from './test-storage';

/**
 * Real broker and agent child processes for end-to-end tests, from the built
 * dist/ (npm test builds first). Every wait is bounded; every process is
 * stopped by the test that started it.
 */
export const ROOT = resolve(__dirname, '..', '..');
const DIST = join(ROOT, 'dist');

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `vc-${prefix}-`));
}

/** Polls a condition, bounded in time; throws with a description when it never holds. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** JSON log lines of a child process's stderr, parsed as they arrive. */
export class LogTail {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  #partial = '';

  attach(child: ChildProcess): void {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      const text = this.#partial + chunk;
      const parts = text.split('\n');
      this.#partial = parts.pop()!;
      for (const line of parts) {
        this.raw.push(line);
        if (line.startsWith('{')) {
          try {
            this.lines.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            // A non-JSON line (a banner) stays in raw only.
          }
        }
      }
    });
  }

  find(event: string, match: (line: Record<string, unknown>) => boolean = () => true): Record<string, unknown> | undefined {
    return this.lines.find((l) => l.event === event && match(l));
  }

  waitFor(event: string, match?: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return waitFor(`log event ${event}`, () => this.find(event, match), timeoutMs);
  }
}

async function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  return new Promise((resolveExit, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolveExit(code);
    });
  });
}

function requireBuild(): void {
  if (!existsSync(join(DIST, 'broker.js')) || !existsSync(join(DIST, 'agent.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does it) before the end-to-end tests');
  }
}

export interface BrokerProcess {
  dataDir: string;
  url: string;
  did: string;
  child: ChildProcess;
  log: LogTail;
  client: BrokerClient;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

export async function startBroker(
  options: {
    dataDir?: string;
    port?: number;
    args?: string[];
    /** Runs once the broker listens, before the host operator's client connects: a fresh broker with no user yet. */
    beforeOperator?: (fresh: { url: string; did: string; dataDir: string }) => Promise<void>;
    /** Keep the broker's stdout readable on child.stdout (--audit-stdout) instead of discarding it. */
    captureStdout?: boolean;
  } = {},
): Promise<BrokerProcess> {
  requireBuild();
  const dataDir = options.dataDir ?? tempDir('broker');
  const args = options.args ?? [];
  // A test that chooses the database itself keeps its choice; the others follow VAULTYSCLAW_TEST_STORAGE.
  const database = args.some((a) => a.startsWith('--database')) ? [] : await databaseArgs(dataDir);
  const child = spawn(process.execPath, [join(DIST, 'broker.js'), 'start', '--data-dir', dataDir, '--port', String(options.port ?? 0), ...database, ...args], {
    stdio: ['ignore', options.captureStdout ? 'pipe' : 'ignore', 'pipe'],
    env: { ...process.env, VAULTYSCLAW_LOG_LEVEL: 'debug' },
  });
  const log = new LogTail();
  log.attach(child);
  let started: Record<string, unknown>;
  let client: BrokerClient;
  try {
    started = await waitFor('the broker to start', () => {
      if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}:\n${log.raw.join('\n')}`);
      return log.find('broker.started');
    });
    await options.beforeOperator?.({ url: String(started.url), did: String(started.did), dataDir });
    client = await BrokerClient.connect(dataDir);
  } catch (err) {
    // Never leak a broker whose client could not connect.
    child.kill('SIGKILL');
    throw err;
  }
  const stopWith = async (signal: NodeJS.Signals) => {
    client.close();
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited(child, 10_000);
  };
  return {
    dataDir,
    url: String(started.url),
    did: String(started.did),
    child,
    log,
    client,
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
  };
}

export interface AgentProcess {
  did: string;
  stateDir: string;
  workspace: string;
  child: ChildProcess;
  log: LogTail;
  stop(): Promise<void>;
  kill(): Promise<void>;
  exited(timeoutMs?: number): Promise<number | null>;
}

/** `agent init` (pinned to brokerDid) into a fresh state directory, unless one is given that already holds an identity. */
export function initAgent(brokerDid: string, stateDir = tempDir('agent-state')): { did: string; stateDir: string } {
  const agentScript = join(DIST, 'agent.js');
  if (!existsSync(join(stateDir, 'agent.key'))) {
    const init = spawnSync(process.execPath, [agentScript, 'init', '--state-dir', stateDir, '--broker', brokerDid], { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`agent init failed: ${init.stderr}`);
  }
  const status = spawnSync(process.execPath, [agentScript, 'status', '--state-dir', stateDir], { encoding: 'utf8' });
  const did = /agent DID:\s+(did:vaultys:[0-9a-f]{40})/.exec(status.stdout)?.[1];
  if (!did) throw new Error(`agent status printed no DID: ${status.stdout}${status.stderr}`);
  return { did, stateDir };
}

export async function startAgent(options: {
  brokerUrl: string;
  brokerDid: string;
  stateDir?: string;
  workspace?: string;
  name?: string;
  request?: string;
  args?: string[];
  /** Added to the agent's environment (a model key, say). */
  env?: Record<string, string>;
}): Promise<AgentProcess> {
  requireBuild();
  const { did, stateDir } = initAgent(options.brokerDid, options.stateDir);
  const workspace = options.workspace ?? tempDir('workspace');
  mkdirSync(workspace, { recursive: true });
  const child = spawn(
    process.execPath,
    [
      join(DIST, 'agent.js'), 'start', '--state-dir', stateDir, '--broker-url', options.brokerUrl, '--workspace', workspace,
      '--name', options.name ?? 'test-agent', '--request', options.request ?? 'read_file,list_files,write_file,run_command',
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, VAULTYSCLAW_LOG_LEVEL: 'debug', ...options.env } },
  );
  const log = new LogTail();
  log.attach(child);
  const stopWith = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited(child, 10_000);
  };
  return {
    did,
    stateDir,
    workspace,
    child,
    log,
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
    exited: (timeoutMs = 10_000) => exited(child, timeoutMs),
  };
}

export function removeDirs(...dirs: string[]): void {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
