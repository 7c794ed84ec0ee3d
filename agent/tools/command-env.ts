import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { isInside } from './confined-walk';
import type { WorkspaceSandbox } from './sandbox';
import { quoted } from './sandbox-error';
import { ToolFailure } from './types';

/** System directories only: no ".", no workspace bin, nothing from the agent's own PATH. */
export const SCRUBBED_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * The whole environment a command sees. Built from nothing, never filtered from process.env: the agent's
 * environment holds its LLM key and whatever else its host set, and a deny-list always misses one.
 */
export function scrubbedEnv(workspaceRoot: string): Record<string, string> {
  return { PATH: SCRUBBED_PATH, HOME: workspaceRoot, LANG: 'C.UTF-8', TERM: 'dumb' };
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The absolute file to execute. A bare name is looked up in SCRUBBED_PATH only, so a file the workspace
 * plants (a fake `git`) is never picked up by name; a relative path with a slash (./gradlew) names a
 * workspace file, confined like any other path, relative to the command's cwd. `visible`, when commands
 * run in a sandbox, lists the system paths the sandbox shows: an absolute command elsewhere is refused before
 * the host's disk is asked about it, so the answer says nothing about what lies outside.
 */
export async function resolveExecutable(command: string, cwdRel: string, sandbox: WorkspaceSandbox, visible: readonly string[] | null = null): Promise<string> {
  if (isAbsolute(command)) {
    if (visible && ![...visible, sandbox.root].some((dir) => isInside(dir, resolve(command)))) {
      throw new ToolFailure('failed', `${quoted(command)} is outside what a command can see (the workspace and the system directories)`);
    }
    if (await isExecutableFile(command)) return command;
    throw new ToolFailure('failed', `${quoted(command)} is not an executable file`);
  }
  if (command.includes('/')) {
    const real = await sandbox.resolveExisting(`${cwdRel}/${command}`);
    if (await isExecutableFile(real)) return real;
    throw new ToolFailure('failed', `${quoted(command)} is not an executable file`);
  }
  for (const dir of SCRUBBED_PATH.split(':')) {
    const candidate = join(dir, command);
    if (await isExecutableFile(candidate)) return candidate;
  }
  throw new ToolFailure('failed', `command not found: ${quoted(command)} (searched ${SCRUBBED_PATH})`);
}
