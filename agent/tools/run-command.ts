import { spawn, type ChildProcess } from 'node:child_process';
import { CappedOutput, neverThrowing } from './capped-output';
import { resolveExecutable, scrubbedEnv } from './command-env';
import { cwdThroughHandle } from './sandbox';
import { quoted } from './sandbox-error';
import { ToolFailure, type ToolContext, type ToolParams } from './types';

/** Per stream; both together leave room in the 192 KiB signed result envelope. */
export const COMMAND_OUTPUT_MAX_BYTES = 64 * 1024;
/** How long to wait for the pipes to close once the command has exited and its group was killed. */
const PIPE_CLOSE_GRACE_MS = 2000;

export type RunCommandOutput = {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  timedOut: boolean;
  /** Killed because the caller's AbortSignal fired. */
  aborted: boolean;
  durationMs: number;
};

const errnoOf = (err: unknown) => (err as NodeJS.ErrnoException).code ?? 'error';

export async function runCommand(params: ToolParams<'run_command'>, ctx: ToolContext): Promise<RunCommandOutput> {
  // The kernel would cut an argument at a NUL, so what was approved would not be what runs.
  if (params.command.includes('\0') || params.args.some((a) => a.includes('\0'))) {
    throw new ToolFailure('bad-params', 'the command and its arguments may not contain NUL bytes');
  }
  const cwd = await ctx.sandbox.openDirectory(params.cwd);
  try {
    const file = await resolveExecutable(params.command, params.cwd, ctx.sandbox);
    return await supervise(file, params, cwdThroughHandle(cwd), ctx);
  } finally {
    await cwd.close();
  }
}

/** Kills the command and everything it started: its process group, by the group id it was given at spawn. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

function supervise(file: string, params: ToolParams<'run_command'>, cwd: string, ctx: ToolContext): Promise<RunCommandOutput> {
  const progress = neverThrowing(ctx.onProgress);
  const stdout = new CappedOutput('stdout', COMMAND_OUTPUT_MAX_BYTES, progress);
  const stderr = new CappedOutput('stderr', COMMAND_OUTPUT_MAX_BYTES, progress);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    if (ctx.signal.aborted) {
      reject(new ToolFailure('failed', 'cancelled before the command started'));
      return;
    }
    let child: ChildProcess;
    try {
      child = spawn(file, params.args, {
        cwd,
        env: scrubbedEnv(ctx.sandbox.root),
        // No shell: arguments reach the program as they are, so `$(id)` or `; rm -rf` stay text.
        shell: false,
        // Its own process group, so a timeout kills the grandchildren too, not only the direct child.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        argv0: params.command,
      });
    } catch (err) {
      reject(new ToolFailure('failed', `could not start ${quoted(params.command)} (${errnoOf(err)})`));
      return;
    }
    const pid = child.pid;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;

    const timer = setTimeout(() => {
      if (exit) return;
      timedOut = true;
      progress('status', `timed out after ${params.timeoutMs} ms; killing the process group`);
      killGroup(pid);
    }, params.timeoutMs);
    const onAbort = () => {
      if (exit) return;
      aborted = true;
      killGroup(pid);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const release = () => {
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      ctx.signal.removeEventListener('abort', onAbort);
    };
    const finish = () => {
      if (settled || !exit) return;
      release();
      const out = stdout.finish();
      const err = stderr.finish();
      resolve({
        exitCode: exit.code,
        signal: exit.signal,
        stdout: out.text,
        stderr: err.text,
        stdoutTruncated: out.truncated,
        stderrTruncated: err.truncated,
        timedOut,
        aborted,
        durationMs: Math.round(performance.now() - started),
      });
    };

    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err) => {
      // After a successful spawn the only errors left are about signalling, which killGroup does not use.
      if (settled || pid !== undefined) return;
      release();
      reject(new ToolFailure('failed', `could not start ${quoted(params.command)} (${errnoOf(err)})`));
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // Nothing the command started may outlive the tool call: background jobs would run unsupervised.
      killGroup(pid);
      // A process that left the group (setsid) may still hold the pipes open; stop waiting for it.
      grace = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, PIPE_CLOSE_GRACE_MS);
    });
    child.on('close', finish);
    if (pid !== undefined) progress('status', `started ${quoted(params.command)} (pid ${pid})`);
  });
}
