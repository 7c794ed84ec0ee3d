import { spawn, type ChildProcess } from 'node:child_process';
import { readlink, type FileHandle } from 'node:fs/promises';
import { assertCanLaunch, launchFor, type Launch } from '../confinement/confined-spawn';
import type { LaunchPart } from '../confinement/launch-part';
import { cgroupLayout } from '../confinement/command-cgroup';
import { LIMIT_NAMES, limitMessage, resourceLimits, type LimitName } from '../confinement/resource-limits';
import { narrowLimits } from '../../core/policy/command-limits';
import { CappedOutput, neverThrowing } from './capped-output';
import { egressLaunchPart } from '../egress/egress-launch-part';
import { resolveExecutable, scrubbedEnv } from './command-env';
import { cwdThroughHandle, pathThroughHandle } from './sandbox';
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
  /** Why a launch part (a resource limit) stopped the command, or null. */
  stoppedBy: string | null;
  /** The resource limit that ended the command (the policy's commandLimits narrowed to the host's ceilings), or null. */
  limit: LimitName | null;
  /** One sentence naming that limit and its value, or null. */
  limitMessage: string | null;
  durationMs: number;
};

const errnoOf = (err: unknown) => (err as NodeJS.ErrnoException).code ?? 'error';

/** `ownParts` replaces what the policy and the host call for: a test's way to exercise the seam. */
export async function runCommand(params: ToolParams<'run_command'>, ctx: ToolContext, ownParts?: LaunchPart[]): Promise<RunCommandOutput> {
  // The kernel would cut an argument at a NUL, so what was approved would not be what runs.
  if (params.command.includes('\0') || params.args.some((a) => a.includes('\0'))) {
    throw new ToolFailure('bad-params', 'the command and its arguments may not contain NUL bytes');
  }
  // Before anything is prepared for the command: a host that cannot confine it refuses it outright.
  assertCanLaunch(ctx.host);
  const parts = ownParts ?? launchParts(params, ctx);
  let cwd: FileHandle | undefined;
  let launch: Launch;
  try {
    cwd = await ctx.sandbox.openDirectory(params.cwd);
    const file = await resolveExecutable(params.command, params.cwd, ctx.sandbox, ctx.host.sandbox?.system.visible ?? null);
    // Inside the sandbox the directory is named by its path: a swap made after this read can only lead
    // somewhere the sandbox shows, i.e. within the workspace or read-only system directories.
    const cwdPath = await readlink(pathThroughHandle(cwd));
    launch = launchFor({ file, args: params.args, cwd: cwdPath, workspace: ctx.sandbox.root, env: scrubbedEnv(ctx.sandbox.root) }, ctx.host, parts);
  } catch (err) {
    await cwd?.close();
    await finishParts(parts);
    throw err;
  }
  try {
    // From here supervise releases the parts, whatever happens.
    return await supervise(launch, params, cwdThroughHandle(cwd), parts, ctx);
  } finally {
    await cwd.close();
  }
}

/**
 * The pieces added to this command's start, in LaunchPart's fixed order (limits, then egress). Each part's
 * own module builds it from ctx.policy and ctx.host.
 */
function launchParts(_params: ToolParams<'run_command'>, ctx: ToolContext): LaunchPart[] {
  const egress = egressLaunchPart(ctx);
  return [resourceLimits(commandLimitsOf(ctx), ctx.writes, cgroupLayout()), ...(egress ? [egress] : [])];
}

const commandLimitsOf = (ctx: ToolContext) => narrowLimits(ctx.policy.commandLimits, ctx.host.confinement.ceilings);
const limitNamed = (reason: string | null): LimitName | null => (LIMIT_NAMES as readonly (string | null)[]).includes(reason) ? (reason as LimitName) : null;

/** Releases every part; the first reason a part gives for stopping the command wins. */
async function finishParts(parts: readonly LaunchPart[]): Promise<string | null> {
  let stoppedBy: string | null = null;
  for (const part of parts) {
    try {
      const why = (await part.finish?.()) ?? null;
      stoppedBy ??= why;
    } catch {
      // A part that cannot release cleanly must not turn a finished command into a crash.
    }
  }
  return stoppedBy;
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

function supervise(launch: Launch, params: ToolParams<'run_command'>, cwd: string, parts: readonly LaunchPart[], ctx: ToolContext): Promise<RunCommandOutput> {
  const progress = neverThrowing(ctx.onProgress);
  const stdout = new CappedOutput('stdout', COMMAND_OUTPUT_MAX_BYTES, progress);
  const stderr = new CappedOutput('stderr', COMMAND_OUTPUT_MAX_BYTES, progress);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const fail = (message: string) => {
      void finishParts(parts).then(() => reject(new ToolFailure('failed', message)));
    };
    if (ctx.signal.aborted) {
      fail('cancelled before the command started');
      return;
    }
    let child: ChildProcess;
    try {
      child = spawn(launch.file, launch.args, {
        cwd,
        env: launch.env,
        // No shell: arguments reach the program as they are, so `$(id)` or `; rm -rf` stay text.
        shell: false,
        // Its own process group, so a timeout kills the grandchildren too, not only the direct child.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      fail(`could not start ${quoted(params.command)} (${errnoOf(err)})`);
      return;
    }
    const pid = child.pid;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    let stoppedBy: string | null = null;

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
      const ended = exit;
      release();
      const out = stdout.finish();
      const err = stderr.finish();
      const durationMs = Math.round(performance.now() - started);
      void finishParts(parts).then((partReason) => {
        const limit = limitNamed(stoppedBy ?? partReason);
        const message = limit && limitMessage(limit, commandLimitsOf(ctx));
        if (message) progress('status', message);
        resolve({
          exitCode: ended.code,
          signal: ended.signal,
          stdout: out.text,
          stderr: err.text,
          stdoutTruncated: out.truncated,
          stderrTruncated: err.truncated,
          timedOut,
          aborted,
          stoppedBy: stoppedBy ?? partReason,
          limit,
          limitMessage: message,
          durationMs,
        });
      });
    };

    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err) => {
      // After a successful spawn the only errors left are about signalling, which killGroup does not use.
      if (settled || pid !== undefined) return;
      release();
      fail(`could not start ${quoted(params.command)} (${errnoOf(err)})`);
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
    if (pid !== undefined) {
      progress('status', `started ${quoted(params.command)} (pid ${pid})`);
      const stop = (why: string) => {
        if (exit) return;
        stoppedBy ??= why;
        progress('status', `stopped: ${why}; killing the process group`);
        killGroup(pid);
      };
      for (const part of parts) {
        try {
          part.started?.(pid, stop);
        } catch (err) {
          // A part that cannot watch its command must not leave it running unwatched.
          stop(`a launch part failed to start (${errnoOf(err)})`);
        }
      }
    }
  });
}
