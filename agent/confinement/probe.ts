import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import type { CommandLimits, Confinement } from '../../core/wire/policy';
import { scrubbedEnv, SCRUBBED_PATH } from '../tools/command-env';
import { sandboxArgs } from './bwrap-args';
import type { SandboxHost } from './host-rules';
import { systemView } from './system-view';

/** A trial sandbox that takes longer than this to start will not serve commands either. */
const TRIAL_TIMEOUT_MS = 15_000;

export interface ProbeOptions {
  /** --unconfined-commands: the operator chose to run commands without a sandbox. */
  unconfined: boolean;
  /** The agent's own PATH, where bwrap is looked up (so a host without it, or a test, can leave it out). */
  path: string | undefined;
  /** Real path of the workspace: the trial binds it as commands will. */
  workspace: string;
  /** The agent's state directory, key and model key files. */
  hidden: readonly string[];
  ceilings?: CommandLimits;
}

export interface ProbeResult {
  confinement: Confinement;
  sandbox?: SandboxHost;
}

const UNCONFINED_HINT = 'or, knowingly, start it with --unconfined-commands';

function executableOn(path: string | undefined, name: string): string | null {
  for (const dir of (path ?? '').split(delimiter)) {
    // A relative PATH entry would make the sandbox depend on the directory the agent was started from.
    if (!isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return null;
}

/** The first line bwrap printed, short enough to quote in a one-sentence hint. */
function firstLine(text: string): string {
  return text.split('\n').find((line) => line.trim())?.trim().slice(0, 160) ?? 'no message';
}

/**
 * Decides, once at start, how this agent's commands run: sandboxed when bwrap is on the agent's PATH and a trial
 * sandbox with the real layout runs `true`; otherwise unavailable (run_command refused) unless the operator
 * passed --unconfined-commands. `detail` is one sentence an operator can act on.
 */
export function probeConfinement(o: ProbeOptions): ProbeResult {
  const ceilings = o.ceilings ?? MAX_COMMAND_LIMITS;
  if (o.unconfined) {
    return {
      confinement: {
        mode: 'unconfined',
        detail: 'commands run without a sandbox (--unconfined-commands): they can read every file this agent\'s user can, its keys included, and reach the network',
        ceilings,
      },
    };
  }
  const unavailable = (detail: string): ProbeResult => ({ confinement: { mode: 'unavailable', detail: detail.slice(0, 512), ceilings } });
  const bwrap = executableOn(o.path, 'bwrap');
  if (!bwrap) {
    return unavailable(`run_command is refused because bubblewrap (bwrap) is not on this agent's PATH: install it (apt-get install bubblewrap) and restart the agent, ${UNCONFINED_HINT}`);
  }
  const truePath = executableOn(SCRUBBED_PATH, 'true');
  if (!truePath) return unavailable(`run_command is refused because no \`true\` program was found in ${SCRUBBED_PATH} to try the sandbox with: install coreutils and restart the agent, ${UNCONFINED_HINT}`);
  let system;
  try {
    system = systemView(process.execPath);
  } catch (err) {
    return unavailable(`run_command is refused because the system directories could not be read for the sandbox (${(err as NodeJS.ErrnoException).code ?? 'error'}): fix them and restart the agent, ${UNCONFINED_HINT}`);
  }
  const sandbox: SandboxHost = { bwrap, system, hidden: o.hidden };
  const args = sandboxArgs({ system, workspace: o.workspace, cwd: o.workspace, hidden: o.hidden, env: scrubbedEnv(o.workspace) });
  const trial = spawnSync(bwrap, [...args, '--', truePath], { env: scrubbedEnv(o.workspace), encoding: 'utf8', timeout: TRIAL_TIMEOUT_MS, stdio: ['ignore', 'ignore', 'pipe'] });
  if (trial.error || trial.status !== 0) {
    const why = trial.error ? ((trial.error as NodeJS.ErrnoException).code ?? 'error') : firstLine(trial.stderr ?? '');
    return unavailable(
      `run_command is refused because bubblewrap could not start a sandbox here (${why}): allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or an AppArmor profile for bwrap) and restart the agent, ${UNCONFINED_HINT}`,
    );
  }
  return { confinement: { mode: 'sandboxed', detail: 'every command runs in a bubblewrap sandbox: the workspace read-write, system directories read-only, no network, no home directories, no agent state', ceilings }, sandbox };
}
