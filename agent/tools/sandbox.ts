import { constants, existsSync, realpathSync, statSync } from 'node:fs';
import { lstat, open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { assertRelativePath, isInside, walkConfined } from './confined-walk';
import { escapeError, quoted, SandboxError } from './sandbox-error';

export { SandboxError, type SandboxErrorCode } from './sandbox-error';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;

/** Where the kernel shows what an open descriptor really is (Linux). */
function descriptorPath(handle: FileHandle, pid: number | 'self' = 'self'): string {
  return `/proc/${pid}/fd/${handle.fd}`;
}

/**
 * A path that reaches `name` through an already-verified directory descriptor, the way openat(2) would:
 * the kernel jumps straight to the directory's inode, so renaming or relinking any directory above it
 * after we checked it cannot redirect the operation outside the root.
 */
export function pathThroughHandle(dir: FileHandle, name?: string): string {
  return name === undefined ? descriptorPath(dir) : `${descriptorPath(dir)}/${name}`;
}

/** The same, usable as a child process's cwd: the child chdirs before exec, while this process holds the descriptor. */
export function cwdThroughHandle(dir: FileHandle): string {
  return descriptorPath(dir, process.pid);
}

export interface SandboxOptions {
  /** The agent's state directory: refused to every tool, however it is reached (see #refuseAgentState). */
  agentState?: string;
}

/** A file with another name may share its content with anything on the same file system, outside the root included. */
function hardLinkError(rel: string, links: number): SandboxError {
  return new SandboxError('hard-link', `${quoted(rel)} has ${links} names (hard links), and another one may lie outside the workspace; refused`);
}

function agentStateError(rel: string): SandboxError {
  return new SandboxError('agent-state', `${quoted(rel)} is in the agent's state directory (its key and broker pin); refused`);
}

/**
 * Confines every path a tool touches to one workspace root. Paths are resolved component by component
 * (confined-walk), then checked again by the kernel's realpath; files and directories are opened with
 * O_NOFOLLOW and the opened descriptor's real path is checked once more, so a directory swapped for a
 * link between the check and the open is caught before a byte is read or written.
 */
export class WorkspaceSandbox {
  /** The root's real path: every check compares against it, so it must not itself contain links. */
  readonly root: string;
  /** The state directory's inode: a link, a bind mount or a layout check missed cannot change it. */
  readonly #agentState: { dev: number; ino: number } | null;

  constructor(root: string, options: SandboxOptions = {}) {
    let real: string;
    try {
      real = realpathSync(root);
    } catch {
      throw new SandboxError('invalid-root', `workspace root ${quoted(root)} does not exist`);
    }
    if (!statSync(real).isDirectory()) throw new SandboxError('invalid-root', `workspace root ${quoted(root)} is not a directory`);
    // A root of / would confine nothing while looking like a sandbox.
    if (real === '/') throw new SandboxError('invalid-root', 'the workspace root cannot be /');
    if (!existsSync('/proc/self/fd')) {
      throw new SandboxError('invalid-root', 'the sandbox needs /proc (Linux) to verify what it opened');
    }
    this.root = real;
    const state = options.agentState ? statSync(options.agentState) : null;
    this.#agentState = state && { dev: state.dev, ino: state.ino };
  }

  /** The real path of an existing entry inside the root (links inside the root are followed). */
  async resolveExisting(rel: string): Promise<string> {
    const walk = await walkConfined(this.root, rel);
    if (walk.missing.length > 0) throw new SandboxError('not-found', `${quoted(rel)} does not exist`);
    return this.#confirm(walk.real, rel);
  }

  /**
   * The real path a new or replaced file would take: its parent must exist inside the root, and the final
   * component must not be a link (writing through a link would land wherever it points, maybe outside).
   */
  async resolveForCreate(rel: string): Promise<string> {
    assertRelativePath(rel);
    const parts = rel.split('/');
    const name = parts.pop() ?? '';
    if (name === '' || name === '.' || name === '..') {
      throw new SandboxError('invalid-path', `${quoted(rel)} does not name a file`);
    }
    const parentRel = parts.join('/');
    const walk = await walkConfined(this.root, parentRel);
    if (walk.missing.length > 0) throw new SandboxError('not-found', `the parent directory of ${quoted(rel)} does not exist`);
    const target = join(await this.#confirm(walk.real, rel), name);
    const existing = await lstat(target).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      if (err.code === 'ENOTDIR') throw new SandboxError('not-a-directory', `the parent of ${quoted(rel)} is not a directory`);
      throw err;
    });
    if (existing?.isSymbolicLink()) throw escapeError(rel, 'is a symbolic link; writing through links is refused');
    if (existing?.isDirectory()) throw new SandboxError('is-a-directory', `${quoted(rel)} is a directory`);
    if (existing && !existing.isFile()) throw new SandboxError('not-a-file', `${quoted(rel)} is not a regular file`);
    if (existing && existing.nlink > 1) throw hardLinkError(rel, existing.nlink);
    return target;
  }

  /** A workspace-relative form of a real path, for results: the host's layout above the root stays private. */
  relative(real: string): string {
    return relative(this.root, real) || '.';
  }

  /** An existing regular file, opened read-only. */
  async openFile(rel: string): Promise<FileHandle> {
    // O_NONBLOCK: opening a FIFO planted in the workspace must not hang the agent waiting for a writer.
    const handle = await this.#openVerified(await this.resolveExisting(rel), O_RDONLY | O_NOFOLLOW | O_NONBLOCK, rel);
    try {
      const stats = await handle.stat();
      if (stats.isDirectory()) throw new SandboxError('is-a-directory', `${quoted(rel)} is a directory`);
      if (!stats.isFile()) throw new SandboxError('not-a-file', `${quoted(rel)} is not a regular file`);
      // Checked on the open descriptor: the link count of the file actually read.
      if (stats.nlink > 1) throw hardLinkError(rel, stats.nlink);
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** An existing directory, opened so that later operations go through the descriptor (pathThroughHandle). */
  async openDirectory(rel: string): Promise<FileHandle> {
    return this.#openVerified(await this.resolveExisting(rel), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, rel);
  }

  /** The verified parent directory of a file to create or replace, the file's name in it, and its workspace-relative path. */
  async openParentForCreate(rel: string): Promise<{ dir: FileHandle; name: string; path: string }> {
    const target = await this.resolveForCreate(rel);
    const dir = await this.#openVerified(dirname(target), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, rel);
    return { dir, name: basename(target), path: this.relative(target) };
  }

  async #confirm(walked: string, rel: string): Promise<string> {
    let real: string;
    try {
      real = await realpath(walked);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SandboxError('not-found', `${quoted(rel)} does not exist`);
      throw err;
    }
    // Something was swapped while we walked: the kernel's answer disagrees with ours.
    if (!isInside(this.root, real)) throw escapeError(rel);
    return real;
  }

  /**
   * The agent's key and pin are out of every tool's reach even in a layout `agent start` would refuse: the
   * opened entry and each directory above it up to the root are compared, by device and inode, with the state
   * directory, so neither its path, a link to it nor a bind mount of it (or of a parent) gets a tool inside.
   */
  async #refuseAgentState(handle: FileHandle, opened: string, rel: string): Promise<void> {
    const state = this.#agentState;
    if (!state) return;
    const same = (s: { dev: number; ino: number }) => s.dev === state.dev && s.ino === state.ino;
    if (same(await handle.stat())) throw agentStateError(rel);
    for (let dir = dirname(opened); isInside(this.root, dir); dir = dirname(dir)) {
      if (same(await stat(dir))) throw agentStateError(rel);
      if (dir === this.root) break;
    }
  }

  async #openVerified(real: string, flags: number, rel: string): Promise<FileHandle> {
    let handle: FileHandle;
    try {
      handle = await open(real, flags);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // The final component became a link after it was checked: a swap race, treated as the escape it aims at.
      if (code === 'ELOOP') throw escapeError(rel, 'changed into a symbolic link while being opened');
      if (code === 'ENOTDIR') throw new SandboxError('not-a-directory', `${quoted(rel)} is not a directory`);
      if (code === 'ENOENT') throw new SandboxError('not-found', `${quoted(rel)} does not exist`);
      throw err;
    }
    try {
      // A directory above the final component may have been swapped for a link; the descriptor cannot lie.
      const opened = await readlink(descriptorPath(handle));
      if (!isInside(this.root, opened)) throw escapeError(rel, 'was redirected outside the workspace root while being opened');
      await this.#refuseAgentState(handle, opened, rel);
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
}
