import { constants, existsSync, realpathSync, statSync } from 'node:fs';
import { lstat, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
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

/**
 * Confines every path a tool touches to one workspace root. Paths are resolved component by component
 * (confined-walk), then checked again by the kernel's realpath; files and directories are opened with
 * O_NOFOLLOW and the opened descriptor's real path is checked once more, so a directory swapped for a
 * link between the check and the open is caught before a byte is read or written.
 */
export class WorkspaceSandbox {
  /** The root's real path: every check compares against it, so it must not itself contain links. */
  readonly root: string;

  constructor(root: string) {
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
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
}
