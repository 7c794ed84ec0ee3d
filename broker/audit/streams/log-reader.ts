import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parseLine, sha256Hex } from '../chain';
import { linesBackward } from '../log-lines';
import type { StreamCursor } from './stream-cursor';

/** One audit line on its way to a destination: the exact bytes of audit.log, and where it ends there. */
export interface StreamedLine {
  seq: number;
  hash: string;
  /** The exact line written to audit.log, without its "\n". */
  line: string;
  fields: Record<string, unknown>;
  /** Offset just past its "\n" in audit.log. */
  end: number;
}

export interface FileBatch {
  lines: StreamedLine[];
  /** Where reading stopped: past the last line looked at (an entry or a line that is none). */
  end: number;
  /** True when every complete line of the file up to now was read. */
  eof: boolean;
}

const NEWLINE = 0x0a;
const CHUNK = 256 * 1024;

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

/**
 * The chain entries of audit.log from byte `from` on, seq above `afterSeq`, at most `maxLines` lines looked at
 * and about `maxBytes` of entries (a single larger line still comes alone): what a destination that fell behind
 * reads to catch up, one bounded batch at a time, instead of holding the lines in memory. A line that is no entry
 * (a fragment a crash left, recorded by the torn-line entry after it) is skipped.
 */
export function readEntries(path: string, from: number, afterSeq: number, maxLines: number, maxBytes: number): FileBatch {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const lines: StreamedLine[] = [];
    let at = from;
    let bytes = 0;
    let looked = 0;
    let window = Buffer.alloc(0);
    let windowStart = from;
    while (at < size && looked < maxLines && bytes < maxBytes) {
      const newline = window.indexOf(NEWLINE, at - windowStart);
      if (newline === -1) {
        const readFrom = windowStart + window.length;
        // An unterminated last line is a write in progress elsewhere or a torn one: never a complete entry.
        if (readFrom >= size) return { lines, end: at, eof: true };
        window = Buffer.concat([window.subarray(at - windowStart), readAt(fd, readFrom, Math.min(CHUNK, size - readFrom))]);
        windowStart = at;
        continue;
      }
      const lineBytes = window.subarray(at - windowStart, newline);
      const end = windowStart + newline + 1;
      looked++;
      const parsed = parseLine(lineBytes);
      if (parsed.kind === 'entry' && parsed.entry.seq > afterSeq) {
        lines.push({ seq: parsed.entry.seq, hash: parsed.entry.hash, line: lineBytes.toString('utf8'), fields: parsed.entry.fields, end });
        bytes += lineBytes.length;
      }
      at = end;
    }
    return { lines, end: at, eof: at >= size };
  } finally {
    closeSync(fd);
  }
}

/**
 * Where the first line after `cursor` starts, or null when the cursor matches no line of the log (it was
 * replaced, restored from a backup): the caller then sends the whole log again (at-least-once; the receiver sees
 * the same seq with another hash, which is what a fork looks like). The saved offset is checked against the
 * line's hash first (one read); otherwise the line is looked for from the end backwards.
 */
export function offsetAfter(path: string, cursor: StreamCursor): number | null {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const start = cursor.end - 1 - cursor.bytes;
    if (start >= 0 && cursor.end <= size) {
      const bytes = readAt(fd, start, cursor.bytes + 1);
      if (bytes.length === cursor.bytes + 1 && bytes[cursor.bytes] === NEWLINE && sha256Hex(bytes.subarray(0, cursor.bytes)) === cursor.hash) return cursor.end;
    }
    for (const span of linesBackward(fd)) {
      if (!span.terminated) continue;
      const parsed = parseLine(span.bytes);
      if (parsed.kind !== 'entry') continue;
      if (parsed.entry.seq === cursor.seq && parsed.entry.hash === cursor.hash) return span.end + 1;
      if (parsed.entry.seq < cursor.seq) break;
    }
    return null;
  } finally {
    closeSync(fd);
  }
}
