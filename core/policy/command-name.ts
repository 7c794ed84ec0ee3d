import { normaliseWorkspacePath } from './path-glob';

/**
 * How a run_command rule's command (argv[0] of its pattern) names the command of a call. A rule that fails to
 * match falls through, so an allow or ask rule matches narrowly and a deny rule broadly:
 * - a bare name (git) matches the bare command git and /usr/bin/git (any system directory below, however the path
 *   is spelled: /usr/bin/../bin/git, //usr/bin/git). An allow or ask rule never matches ./git, bin/git or
 *   /work/ws/git: a binary planted in the workspace is not the git the rule's author meant. A deny rule matches any
 *   command whose last path segment is the name (./rm, ../../bin/rm), and a bare command the host resolved to a
 *   file of that name (sh → /usr/bin/dash is caught by deny dash).
 * - an absolute path (/usr/bin/git) matches that path, normalised, and a bare command the agent host resolved to it
 *   (the file PATH finds, or the real file a link leads to: deny /usr/bin/sh catches sh, which is /usr/bin/dash
 *   here). A deny rule also matches any command, however spelled, that the host resolved to it.
 * Allow and ask compare exactly (no case folding, no Unicode normalisation: a Cyrillic і in gіt is another
 * command). Deny also compares case-insensitively, so it stays broad.
 */
const SYSTEM_DIRECTORIES = new Set(['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']);

/** An absolute command path with //, . and .. resolved lexically. */
export const normaliseCommandPath = (path: string): string => `/${normaliseWorkspacePath(path).segments.join('/')}`;

const lastSegment = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

export interface CommandContext {
  deny: boolean;
  /** The absolute paths the command resolves to on the agent host (HostFacts.executables), when known. */
  executables?: readonly string[] | undefined;
}

export function commandMatches(ruleCommand: string, command: string, context: CommandContext): boolean {
  const same = context.deny ? (a: string, b: string) => a === b || a.toLowerCase() === b.toLowerCase() : (a: string, b: string) => a === b;
  const resolved = (context.executables ?? []).filter((path) => path.startsWith('/')).map(normaliseCommandPath);
  // An allow or ask rule trusts the host's resolution of a bare name only; a deny rule, of any spelling.
  const trusted = context.deny || !command.includes('/') ? resolved : [];
  if (ruleCommand.startsWith('/')) {
    const rulePath = normaliseCommandPath(ruleCommand);
    if (command.startsWith('/') && same(rulePath, normaliseCommandPath(command))) return true;
    return trusted.some((path) => same(rulePath, path));
  }
  if (context.deny && resolved.some((path) => same(ruleCommand, lastSegment(path)))) return true;
  if (!command.includes('/')) return same(ruleCommand, command);
  if (context.deny) return same(ruleCommand, normaliseWorkspacePath(command).segments.at(-1) ?? '');
  if (!command.startsWith('/')) return false;
  const path = normaliseCommandPath(command);
  const slash = path.lastIndexOf('/');
  return SYSTEM_DIRECTORIES.has(path.slice(0, slash)) && same(ruleCommand, path.slice(slash + 1));
}
