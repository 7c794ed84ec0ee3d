import type { CommandRule, HttpRule, PathRule, TaskRule } from '../wire/policy-rules';
import { type TaskTool, taskTools, type IntentCall } from '../wire/task';
import { domainAllowed } from './egress-rules';
import { argvMatches } from './argv-match';
import { commandMatches } from './command-name';
import { globMatches, normaliseWorkspacePath, type WorkspacePath } from './path-glob';

/**
 * What a rule's match is compared with, read once from a call (or from a rule's example): the argv a command
 * executes, a normalised workspace path, a method and parsed URL, a task's tool set. One reading for the real
 * call, the dry run and the examples checked when a policy is set, so they cannot disagree.
 */
export type Subject =
  | { capability: 'run_command'; argv: readonly string[]; executables?: readonly string[] | undefined }
  | { capability: 'read_file' | 'list_files' | 'write_file'; path: WorkspacePath }
  | { capability: 'http_fetch'; method: string; url: URL | null }
  | { capability: 'llm_task'; tools: readonly TaskTool[] };

/** The lexical subject of a call; path tools also get one subject per real path the host reports. */
export function subjectsOf(call: IntentCall, realPaths: readonly string[] = [], executables?: readonly string[]): Subject[] {
  switch (call.capability) {
    case 'run_command':
      return [{ capability: 'run_command', argv: [call.params.command, ...call.params.args], executables }];
    case 'read_file':
    case 'list_files':
    case 'write_file':
      return [call.params.path, ...realPaths].map((path) => ({ capability: call.capability, path: normaliseWorkspacePath(path) }));
    case 'http_fetch':
      return [{ capability: 'http_fetch', method: call.params.method, url: parseUrl(call.params.url) }];
    case 'llm_task':
      return [{ capability: 'llm_task', tools: taskTools(call.params) }];
  }
}

const parseUrl = (url: string): URL | null => (URL.canParse(url) ? new URL(url) : null);

/** An http example as rules carry it: "GET https://registry.npmjs.org/react". */
export function httpExampleSubject(example: string): Subject {
  const space = example.indexOf(' ');
  return { capability: 'http_fetch', method: example.slice(0, space), url: parseUrl(example.slice(space + 1)) };
}

type CommandMatch = CommandRule['match'];
type PathMatch = PathRule['match'];
type HttpMatch = HttpRule['match'];
type TaskMatch = TaskRule['match'];
type AnyMatch = CommandMatch | PathMatch | HttpMatch | TaskMatch;

/** Whether one rule's match names the subject; `deny` selects the broad reading (see core/policy/rules.ts). */
export function matchNames(match: AnyMatch, subject: Subject, deny: boolean): boolean {
  switch (subject.capability) {
    case 'run_command': {
      const { argv, executables } = subject;
      // Arguments compare exactly, for deny too: programs read them case-sensitively (git -c sets a config value,
      // git -C changes directory), so folding would deny what the rule never named.
      return argvMatches((match as CommandMatch).argv, argv, (element, index) =>
        index === 0 ? commandMatches(element, argv[0]!, { deny, executables }) : element === argv[index],
      );
    }
    case 'read_file':
    case 'list_files':
    case 'write_file':
      // A path outside the workspace is the sandbox's to refuse; no allow or ask rule speaks for it.
      if (!deny && !subject.path.inside) return false;
      return globMatches((match as PathMatch).path, subject.path.segments, deny);
    case 'http_fetch':
      return httpMatches(match as HttpMatch, subject, deny);
    case 'llm_task': {
      const tools = (match as TaskMatch).tools;
      // allow / ask: every tool the task may use is one the rule names; deny: any of them is.
      return deny ? subject.tools.some((t) => tools.includes(t)) : subject.tools.every((t) => tools.includes(t));
    }
  }
}

function httpMatches(match: HttpMatch, subject: Extract<Subject, { capability: 'http_fetch' }>, deny: boolean): boolean {
  const { url } = subject;
  if (url === null) return false;
  if (match.methods !== undefined && !match.methods.includes(subject.method as (typeof match.methods)[number])) return false;
  if (!domainAllowed(url.hostname, [match.host])) return false;
  const prefix = match.pathPrefix;
  if (prefix === undefined) return true;
  if (deny) return [url.pathname, decodedPath(url.pathname)].some((path) => underPrefix(path.toLowerCase(), prefix.toLowerCase()));
  // A server that decodes %2F or %2E after routing could lead /api/..%2Fadmin out of an allowed prefix.
  return !/%(2f|2e|5c)/i.test(url.pathname) && underPrefix(url.pathname, prefix);
}

/** /api names /api and /api/x, never /api2. */
const underPrefix = (path: string, prefix: string): boolean =>
  path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);

function decodedPath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
