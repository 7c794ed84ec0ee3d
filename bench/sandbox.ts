/**
 * Sandbox benchmark (agent/confinement): what bubblewrap adds to every command run_command starts.
 *
 * What is measured (operations per second), for three commands, each started as run_command starts it
 * (launchFor, then spawn with the scrubbed environment, stdout and stderr read to the end):
 *   plain/<command>      the host's own `unconfined` launch: a plain spawn of the program.
 *   sandboxed/<command>  the same command through bwrap, with the layout the agent probes at start
 *                        (namespaces, read-only system binds, /etc secrets masked, private /tmp, /proc, /dev).
 * Commands: /bin/true (the fixed cost), `ls -la` of a small directory, `git status` in a small repository
 * (a few files, one commit), all in a temporary workspace.
 *
 *   confined/<command>   the whole run_command path an agent takes (agent/tools runTool): the sandbox, the
 *                        resource limits part (its cgroups, prlimit, accountant and watcher), supervision.
 *
 * Ratios (sandboxed / plain and confined / plain, run by run, see bench/measure.ts) are the figures to track:
 * 0.2 means a command of that kind starts and ends at a fifth of the rate of a plain one. `sandboxed` is
 * bubblewrap's own cost; `confined` is what a user's command pays (no egress: its policy allows no domains).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_COMMAND_LIMITS } from '../core/policy/command-limits';
import { launchFor } from '../agent/confinement/confined-spawn';
import type { HostRules } from '../agent/confinement/host-rules';
import { probeConfinement } from '../agent/confinement/probe';
import { scrubbedEnv } from '../agent/tools/command-env';
import { runTool, WorkspaceSandbox } from '../agent/tools';
import { measure, ratioOf, type Case, type Suite } from './measure';

const COMMANDS: Array<{ name: string; file: string; args: string[] }> = [
  { name: 'true', file: '/bin/true', args: [] },
  { name: 'ls', file: '/usr/bin/ls', args: ['-la'] },
  { name: 'gitStatus', file: '/usr/bin/git', args: ['status', '--short'] },
];

/** A small repository: a few files and one commit. */
function smallRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vc-bench-sandbox-'));
  const env = scrubbedEnv(dir);
  mkdirSync(join(dir, 'src'));
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, 'src', `file${i}.ts`), `export const n${i} = ${i};\n`);
  writeFileSync(join(dir, 'README.md'), '# bench\n');
  for (const args of [['init', '-q', '.'], ['add', '.'], ['-c', 'user.name=b', '-c', 'user.email=b@example.invalid', 'commit', '-q', '-m', 'one']]) {
    const git = spawnSync('/usr/bin/git', args, { cwd: dir, env });
    if (git.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${git.stderr}`);
  }
  writeFileSync(join(dir, 'src', 'file0.ts'), 'export const n0 = -1;\n');
  return dir;
}

/** Starts the launch and resolves when it ended with status 0 and its pipes closed. */
function runOnce(file: string, args: string[], env: Record<string, string>, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.resume();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${file} exited ${code}: ${stderr.slice(0, 300)}`))));
  });
}

export const sandboxSuite: Suite = {
  name: 'sandbox',
  async run(options) {
    const workspace = smallRepository();
    try {
      const probed = probeConfinement({ unconfined: false, path: process.env.PATH, workspace, hidden: [] });
      if (!probed.sandbox) throw new Error(`no sandbox on this machine: ${probed.confinement.detail}`);
      const host = (confinement: HostRules['confinement'], sandbox?: HostRules['sandbox']): HostRules => ({ confinement, sandbox, brokers: [{ host: '127.0.0.1', port: 9 }], allowLoopback: false });
      const hosts = {
        plain: host({ mode: 'unconfined', detail: 'bench', ceilings: MAX_COMMAND_LIMITS }),
        sandboxed: host(probed.confinement, probed.sandbox),
      };
      const cases: Case[] = [];
      for (const [kind, rules] of Object.entries(hosts)) {
        for (const command of COMMANDS) {
          const launch = launchFor({ file: command.file, args: command.args, cwd: workspace, workspace, env: scrubbedEnv(workspace) }, rules, []);
          cases.push({ name: `${kind}/${command.name}`, op: () => runOnce(launch.file, launch.args, launch.env, workspace) });
        }
      }
      const tools = new WorkspaceSandbox(workspace);
      for (const command of COMMANDS) {
        const call = { capability: 'run_command', params: { command: command.file, args: command.args, cwd: '.', timeoutMs: 30_000 } } as const;
        const op = async () => {
          const outcome = await runTool(call, {
            sandbox: tools,
            signal: new AbortController().signal,
            onProgress: () => {},
            policy: { allowedDomains: [], commandLimits: MAX_COMMAND_LIMITS },
            host: hosts.sandboxed,
            writes: { remainingBytes: MAX_COMMAND_LIMITS.workspaceWriteBytes },
          });
          if (!outcome.ok || outcome.output.exitCode !== 0) throw new Error(`run_command ${command.name} failed: ${JSON.stringify(outcome).slice(0, 300)}`);
        };
        cases.push({ name: `confined/${command.name}`, op });
      }
      const figures = await measure(cases, options);
      const over = (kind: string) => Object.fromEntries(COMMANDS.map((c) => [c.name, ratioOf(figures[`${kind}/${c.name}`]!, figures[`plain/${c.name}`]!)]));
      return { ...figures, sandboxedOverPlain: over('sandboxed'), confinedOverPlain: over('confined') };
    } finally {
      rmSync(workspace, { recursive: true, force: true });
    }
  },
};
