import { lstat, opendir } from 'node:fs/promises';
import { pathThroughHandle } from './sandbox';
import type { ToolContext, ToolParams } from './types';

export const LIST_MAX_ENTRIES = 5000;
/**
 * Names are the unbounded part of a listing (up to 255 bytes each); this budget, with a per-entry
 * allowance for the MessagePack framing, keeps the signed result inside its 192 KiB envelope.
 */
export const LIST_MAX_ENCODED_BYTES = 128 * 1024;
const ENTRY_OVERHEAD_BYTES = 48;
/** A directory holding millions of entries must not hold the agent's memory hostage. */
const LIST_MAX_SCANNED = 100_000;

export type ListedEntry = { name: string; type: 'file' | 'directory' | 'symlink' | 'other'; size: number | null };
/** Entries sorted by name (code unit order, independent of locale); `size` only for regular files. */
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
      budget -= Buffer.byteLength(name) + ENTRY_OVERHEAD_BYTES;
      if (entries.length >= LIST_MAX_ENTRIES || budget < 0) {
        truncated = true;
        break;
      }
      // lstat, never stat: a listed link is reported as a link, not as whatever it points at outside the root.
      const stats = await lstat(pathThroughHandle(dir, name)).catch(() => null);
      if (!stats) continue; // removed since it was listed
      const type = stats.isSymbolicLink() ? 'symlink' : stats.isDirectory() ? 'directory' : stats.isFile() ? 'file' : 'other';
      entries.push({ name, type, size: type === 'file' && Number.isSafeInteger(stats.size) ? stats.size : null });
    }
    return { entries, truncated };
  } finally {
    await dir.close();
  }
}
