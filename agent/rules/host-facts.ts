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
      return { executable: await bareExecutable(call.params.command, sandbox) };
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

/** A bare name as the command will find it on the sandbox's PATH, every link resolved; null when it finds none. */
async function bareExecutable(command: string, sandbox: WorkspaceSandbox): Promise<string | null | undefined> {
  // A path (absolute or ./git) is matched as written: rules already treat it as the path it names.
  if (command.includes('/')) return undefined;
  try {
    return await realpath(await resolveExecutable(command, '.', sandbox));
  } catch {
    return null;
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
