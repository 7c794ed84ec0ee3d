import { lstat, readlink } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { escapeError, quoted, SandboxError } from './sandbox-error';

/** Linux's own limit (MAXSYMLINKS): a link cycle fails here instead of spinning. */
const MAX_SYMLINK_HOPS = 40;

export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/** Refusals that need no file system: the same answer whatever the disk holds. */
export function assertRelativePath(rel: string): void {
  // NUL truncates the path in the kernel, so what we checked would not be what gets opened.
  if (rel.includes('\0')) throw escapeError(rel, 'contains a NUL byte');
  if (isAbsolute(rel)) throw escapeError(rel, 'is absolute; give a path relative to the workspace root');
}

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

export interface ConfinedWalk {
  /** The deepest existing entry reached: a real path (no links), inside the root. */
  real: string;
  /** Components left over when one does not exist (empty when the whole path exists). */
  missing: string[];
}

/**
 * Resolves `rel` one component at a time, following links ourselves, and refuses the first step that
 * leaves the root, whether or not the link's target exists. fs.realpath alone would answer "not found"
 * for a dangling link to /etc/shadow-maybe and "escape" for an existing one, telling an agent's caller
 * which files exist outside the workspace. `..` is taken against the real directory reached so far, as
 * the kernel does (so `link/..` is the link target's parent, not a lexical no-op), and may never climb
 * above the root, even on the way back in. An absolute link target must lie under the root's real path.
 */
export async function walkConfined(root: string, rel: string): Promise<ConfinedWalk> {
  assertRelativePath(rel);
  const pending = components(rel);
  let current = root;
  let hops = 0;
  for (let name = pending.shift(); name !== undefined; name = pending.shift()) {
    if (name === '..') {
      if (current === root) throw escapeError(rel);
      current = dirname(current);
      continue;
    }
    const next = join(current, name);
    let stats;
    try {
      stats = await lstat(next);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { real: current, missing: [name, ...pending] };
      if (code === 'ENOTDIR') throw new SandboxError('not-a-directory', `${quoted(rel)}: a component is not a directory`);
      throw err;
    }
    if (!stats.isSymbolicLink()) {
      current = next;
      continue;
    }
    if (++hops > MAX_SYMLINK_HOPS) throw new SandboxError('symlink-loop', `${quoted(rel)}: too many symbolic links`);
    let target: string;
    try {
      target = await readlink(next);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Replaced since lstat (a race): look at this component again; the hop limit bounds the retries.
      if (code === 'ENOENT' || code === 'EINVAL') {
        pending.unshift(name);
        continue;
      }
      throw err;
    }
    if (isAbsolute(target)) {
      if (!isInside(root, target)) throw escapeError(rel);
      current = root;
      pending.unshift(...components(target.slice(root.length)));
    } else {
      pending.unshift(...components(target));
    }
  }
  return { real: current, missing: [] };
}
