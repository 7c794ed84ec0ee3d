import { lstat, opendir } from 'node:fs/promises';
import { canonicalEncode } from '../../core/identity';
import { pathThroughHandle } from './sandbox';
import type { ToolContext, ToolParams } from './types';

export const LIST_MAX_ENTRIES = 5000;
/**
 * The entries' MessagePack size, counted exactly: the signed result must fit its 192 KiB envelope
 * (core/wire/common Envelope), and 5000 entries of long names would not.
 */
export const LIST_MAX_ENCODED_BYTES = 160 * 1024;
/** A directory holding millions of entries must not hold the agent's memory hostage. */
const LIST_MAX_SCANNED = 100_000;

/**
 * `hardLinked`: a regular file with more than one name, which read_file and write_file refuse. It is
 * listed (its name is this directory's), flagged so the refusal is no surprise, and without a size: the
 * size belongs to content that may live outside the workspace.
 */
export type ListedEntry = { name: string; type: 'file' | 'directory' | 'symlink' | 'other'; size: number | null; hardLinked?: true };
/** Entries sorted by name (code unit order, independent of locale); `size` only for regular files with one name. */
export type ListFilesOutput = { entries: ListedEntry[]; truncated: boolean };

export async function listFiles(params: ToolParams<'list_files'>, ctx: ToolContext): Promise<ListFilesOutput> {
  const dir = await ctx.sandbox.openDirectory(params.path);
  try {
    const names: string[] = [];
    let truncated = false;
    for await (const entry of await opendir(pathThroughHandle(dir))) {
      if (names.length >= LIST_MAX_SCANNED) {
        truncated = true;
        break;
      }
      names.push(entry.name);
    }
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

    const entries: ListedEntry[] = [];
    let budget = LIST_MAX_ENCODED_BYTES;
    for (const name of names) {
      if (entries.length >= LIST_MAX_ENTRIES) {
        truncated = true;
        break;
      }
      // lstat, never stat: a listed link is reported as a link, not as whatever it points at outside the root.
      const stats = await lstat(pathThroughHandle(dir, name)).catch(() => null);
      if (!stats) continue; // removed since it was listed
      const type = stats.isSymbolicLink() ? 'symlink' : stats.isDirectory() ? 'directory' : stats.isFile() ? 'file' : 'other';
      const hardLinked = type === 'file' && stats.nlink > 1;
      const entry: ListedEntry = hardLinked
        ? { name, type, size: null, hardLinked: true }
        : { name, type, size: type === 'file' && Number.isSafeInteger(stats.size) ? stats.size : null };
      budget -= canonicalEncode(entry).length;
      if (budget < 0) {
        truncated = true;
        break;
      }
      entries.push(entry);
    }
    return { entries, truncated };
  } finally {
    await dir.close();
  }
}
