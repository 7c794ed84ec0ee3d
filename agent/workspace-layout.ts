import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { AGENT_DATABASE_FILE } from './store/agent-database';
import { AGENT_KEY_FILE, PIN_FILE } from './state-dir';
import { isInside } from './tools/confined-walk';

/** What a tool must never reach: the key (whoever reads it is this agent) and the pin (whoever rewrites it picks the broker). */
const STATE_FILES = [AGENT_KEY_FILE, PIN_FILE, AGENT_DATABASE_FILE];

/** The real path of `path`, or of its deepest existing ancestor followed by the rest: the state may not exist yet at init. */
function realPathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(path) === path) throw err;
    return join(realPathOf(dirname(path)), basename(path));
  }
}

/**
 * Refuses a workspace from which the agent's own file tools could read its key or rewrite its pin. The
 * defaults invite it: the workspace is the current directory and the state ~/.vaultysclaw/agent, so an
 * agent started from $HOME would serve its key to anyone granted read_file. Compared by real paths, so a
 * link to the state from outside the workspace, or to a state file from inside it, does not hide it.
 */
export function workspaceLayoutProblem(workspace: string, stateDir: string): string | null {
  const root = realPathOf(resolve(workspace));
  const shown = resolve(workspace);
  if (isInside(root, realPathOf(resolve(stateDir)))) {
    return `the workspace ${shown} contains the agent's state directory ${resolve(stateDir)}, where the agent's tools could read its key or rewrite its broker pin; give --workspace a directory that does not contain it (or move the state with --state-dir)`;
  }
  for (const name of STATE_FILES) {
    const file = join(resolve(stateDir), name);
    if (existsSync(file) && isInside(root, realPathOf(file))) {
      return `the workspace ${shown} contains the agent's state file ${file} (through a link), where the agent's tools could read or rewrite it; give --workspace a directory that does not contain it`;
    }
  }
  return null;
}
