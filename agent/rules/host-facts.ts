import { realpath } from 'node:fs/promises';
import type { HostFacts } from '../../core/policy/rules';
import type { IntentCall } from '../../core/wire/task';
import { resolveExecutable } from '../tools/command-env';
import type { WorkspaceSandbox } from '../tools/sandbox';

/**
 * What a rule's lexical match cannot see and only this host can: the program a bare command name really starts,
 * and the file a workspace path really reaches. Without them a deny rule on **\/.env* is walked around by a
 * symlink `cfg -> .env`, and an allow rule for /usr/bin/git cannot tell the system's git from another.
 *
 * Read with the very resolution the tools use (command-env's PATH, the sandbox's confined walk), so the facts
 * name what the tool would open or start. A fact that cannot be established is left out: the tool meets the same
 * failure when it runs, and the lexical match still holds.
 */
export async function hostFacts(call: IntentCall, sandbox: WorkspaceSandbox): Promise<HostFacts> {
  switch (call.capability) {
    case 'run_command':
      return { executables: await executablesOf(call.params.command, call.params.cwd, sandbox) };
    case 'read_file':
    case 'list_files':
      return { realPaths: await realPathOf(() => sandbox.resolveExisting(call.params.path), sandbox) };
    case 'write_file':
      // The file may not exist yet: its real parent directory, joined with the name it will have.
      return { realPaths: await realPathOf(() => sandbox.resolveForCreate(call.params.path), sandbox) };
    default:
      return {};
  }
}

/**
 * The file the command starts, as the tool will find it (a bare name on the sandbox's PATH, a path from the
 * command's cwd), and that file's real target when it is a link: /usr/bin/sh and /usr/bin/dash. Both name it, so
 * a deny rule on either catches it. Empty when there is none: the tool fails on the same cause.
 */
async function executablesOf(command: string, cwd: string, sandbox: WorkspaceSandbox): Promise<string[]> {
  try {
    const found = await resolveExecutable(command, cwd, sandbox);
    return [...new Set([found, await realpath(found)])];
  } catch {
    return [];
  }
}

async function realPathOf(resolve: () => Promise<string>, sandbox: WorkspaceSandbox): Promise<string[]> {
  try {
    return [sandbox.relative(await resolve())];
  } catch {
    // Missing, an escape, a link in the last component: the tool refuses or fails on it for the same cause.
    return [];
  }
}
