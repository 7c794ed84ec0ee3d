import { existsSync, realpathSync } from 'node:fs';
import { isInside } from '../tools/confined-walk';
import { maskArgs, type SystemView } from './system-view';

/** One command's sandbox: the paths are real (symlink-free) host paths, the same inside. */
export interface SandboxLayout {
  system: SystemView;
  /** Bound read-write at its own path: the only host directory a command can change. */
  workspace: string;
  /** Where the command starts, inside the workspace. */
  cwd: string;
  /** The agent's state directory, key and model key files: masked wherever they lie under a bound directory. */
  hidden: readonly string[];
  /** The command's whole environment: nothing of the agent's own crosses over. */
  env: Readonly<Record<string, string>>;
}

/**
 * Namespaces for everything (the network included: no interface but a down loopback), a fresh /proc of its own
 * pid namespace (no other process, the agent's environ and cmdline included), a private /tmp, a minimal /dev.
 * --die-with-parent and the pid namespace end every process the command started when it ends or is killed,
 * setsid or not; --new-session keeps it from the agent's terminal (TIOCSTI); --cap-drop ALL and bwrap's
 * no_new_privs leave root inside with no power over the host's files beyond their modes.
 */
const ISOLATION = ['--unshare-all', '--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp'];

/** bwrap's options, without the program name and without the `--` that ends them. */
export function sandboxArgs(layout: SandboxLayout): string[] {
  const args = [...ISOLATION, ...layout.system.args];
  // After --tmpfs /tmp, so a workspace under /tmp is bound on top of the private /tmp, not hidden by it.
  args.push('--bind', layout.workspace, layout.workspace);
  const bound = [...layout.system.bound, layout.workspace];
  for (const path of layout.hidden) {
    if (!existsSync(path)) continue;
    const real = realpathSync(path);
    if (bound.some((dir) => isInside(dir, real))) args.push(...maskArgs(real));
  }
  args.push('--clearenv');
  for (const [name, value] of Object.entries(layout.env)) args.push('--setenv', name, value);
  args.push('--chdir', layout.cwd);
  return args;
}
