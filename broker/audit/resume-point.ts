import { parseLine, type ChainEntry } from './chain';
import { hashRange, linesBackward } from './log-lines';

/**
 * Where an existing audit.log's chain continues, found by reading its tail.
 *
 * A crash (or a failed write) can leave the file ending in part of a line.
 * What is safe to do with it:
 * - never delete or rewrite it: it is evidence, and a writer that truncates
 *   "garbage" on start would also be a tool for erasing entries;
 * - never chain onto it: its content is unknown and unverifiable;
 * - so leave its bytes in place, end them with "\n", and write, as the next
 *   entry, an 'audit.torn-line' record that chains to the last complete entry
 *   and states the fragment's length and SHA-256. The fragment is then frozen
 *   by the chain (changing it later breaks the record's hash check) while no
 *   entry's meaning depends on it. The verifier accepts such a fragment only
 *   when the very next entry is a record that matches it exactly.
 * A fragment is never valid JSON (a prefix of one JSON object cannot be one),
 * so a complete JSON line without chain fields after the last entry is not a
 * crash artefact but another writer: that fails closed (see UnchainedTailError).
 */
export interface TornRegion {
  /** Offset of the fragment's first byte. */
  start: number;
  /** Fragment bytes (the lines after the last entry joined by "\n"; a failed recovery can leave more than one). */
  bytes: number;
  lines: number;
  sha256: string;
  /** Whether the file ends in "\n" already (otherwise the recovery starts with one). */
  terminated: boolean;
}

export interface ResumePoint {
  /** The last complete entry, or null for an empty file (or one holding only fragments). */
  last: ChainEntry | null;
  /** The last entry is intact but its "\n" was never written (a write torn exactly there). */
  lastUnterminated: boolean;
  torn: TornRegion | null;
}

export class UnchainedTailError extends Error {
  override readonly name = 'UnchainedTailError';
}

export function findResumePoint(fd: number, path: string): ResumePoint {
  const fragments: { start: number; end: number; terminated: boolean }[] = [];
  let last: ChainEntry | null = null;
  let lastUnterminated = false;
  for (const line of linesBackward(fd)) {
    const parsed = parseLine(line.bytes);
    if (parsed.kind === 'entry') {
      last = parsed.entry;
      lastUnterminated = !line.terminated;
      break;
    }
    if (parsed.kind === 'not-entry') {
      throw new UnchainedTailError(
        `${path} ends with a JSON line that is not a chain entry (at byte ${line.start}): something other than the broker ` +
          'writes to this file. Run `broker audit verify` on it and move it aside before starting the broker.',
      );
    }
    fragments.push(line);
  }
  if (fragments.length === 0) return { last, lastUnterminated, torn: null };
  const first = fragments[fragments.length - 1]!;
  const final = fragments[0]!;
  return {
    last,
    lastUnterminated: false,
    torn: {
      start: first.start,
      bytes: final.end - first.start,
      lines: fragments.length,
      sha256: hashRange(fd, first.start, final.end),
      terminated: final.terminated,
    },
  };
}
