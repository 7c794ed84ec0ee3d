import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { AuditStreamTarget } from '../../ops/ops-options';

/** Where each stream destination keeps the last line it acknowledged, under the data directory. */
export const STREAM_CURSOR_DIR = 'audit-streams';

/** The last audit line a destination acknowledged: its seq and hash, and where it lies in audit.log. */
export const StreamCursor = z
  .object({
    seq: z.number().int().nonnegative(),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    /** Offset just past the line's "\n": where the next line to send starts. */
    end: z.number().int().positive(),
    /** The line's length in bytes, without its "\n". */
    bytes: z.number().int().nonnegative(),
  })
  .strict();
export type StreamCursor = z.infer<typeof StreamCursor>;

/**
 * One file per destination, named by its kind and a digest of its URL (never the URL itself: a collector's path
 * may be a secret), so changing the destination starts a cursor of its own.
 */
export function cursorFileOf(dataDir: string, target: AuditStreamTarget): string {
  const name = target.kind === 'stdout' ? 'stdout' : `${target.kind}-${createHash('sha256').update(target.url.href).digest('hex').slice(0, 16)}`;
  return join(dataDir, STREAM_CURSOR_DIR, `${name}.cursor.json`);
}

/** The saved cursor, or null when there is none or it is unreadable: the destination then gets the whole log again (at-least-once). */
export function loadCursor(file: string): StreamCursor | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = StreamCursor.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Atomic (a crash leaves the old cursor or the new one) and 0600, in a 0700 directory. */
export function saveCursor(file: string, cursor: StreamCursor): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const temp = `${file}.tmp`;
  try {
    writeFileSync(temp, `${JSON.stringify(cursor)}\n`, { mode: 0o600 });
    renameSync(temp, file);
  } finally {
    rmSync(temp, { force: true });
  }
}
