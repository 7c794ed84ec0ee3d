import { ToolFailure } from '../tools/types';
import { sandboxArgs } from './bwrap-args';
import type { HostRules, SandboxHost } from './host-rules';
import type { LaunchPart } from './launch-part';

/** What to hand to spawn: the outermost program, its arguments and its environment. */
export interface Launch {
  file: string;
  args: string[];
  env: Record<string, string>;
}

export interface CommandToLaunch {
  /** Absolute path of the program, as seen inside the sandbox (the same path as on the host). */
  file: string;
  args: readonly string[];
  /** Real path of the directory it starts in, inside the workspace. */
  cwd: string;
  /** Real path of the workspace. */
  workspace: string;
  /** The scrubbed environment (command-env.ts), before the parts add theirs. */
  env: Readonly<Record<string, string>>;
}

/**
 * How a command starts on this host, every part's piece in the order given (see LaunchPart):
 *   [...outer] bwrap [sandbox] [...bwrapArgs] -- [...inner] file args
 * Refuses with `sandbox-unavailable` unless the host sandboxes its commands or its operator chose not to.
 */
export function launchFor(command: CommandToLaunch, host: HostRules, parts: readonly LaunchPart[]): Launch {
  const sandbox = assertCanLaunch(host);
  const env: Record<string, string> = { ...command.env };
  for (const part of parts) Object.assign(env, part.env);
  const outer = parts.flatMap((part) => part.outer ?? []);
  const inner = parts.flatMap((part) => part.inner ?? []);
  const program = [...inner, command.file, ...command.args];
  if (!sandbox) return start([...outer, ...program], env);
  const own = sandboxArgs({ system: sandbox.system, workspace: command.workspace, cwd: command.cwd, hidden: sandbox.hidden, env });
  const extra = parts.flatMap((part) => part.bwrapArgs ?? []);
  return start([...outer, sandbox.bwrap, ...own, ...extra, '--', ...program], env);
}

/**
 * The sandbox commands start in, or null when the operator chose --unconfined-commands; throws
 * `sandbox-unavailable` otherwise. A sandboxed mode without the sandbox's means is a bug somewhere: it
 * fails closed too, never runs unconfined.
 */
export function assertCanLaunch(host: HostRules): SandboxHost | null {
  const { mode, detail } = host.confinement;
  if (mode === 'unconfined') return null;
  if (mode === 'sandboxed' && host.sandbox) return host.sandbox;
  throw new ToolFailure('sandbox-unavailable', mode === 'sandboxed' ? 'this agent has no sandbox to start commands in' : detail);
}

function start(argv: string[], env: Record<string, string>): Launch {
  const [file, ...args] = argv;
  return { file: file!, args, env };
}
