import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';

/**
 * Byte-exact line access to audit.log. Lines are split on "\n" only and kept
 * as raw bytes: readline or a UTF-8 decode would fold "\r\n", replace invalid
 * bytes and so hide exactly the edits the hashes must catch.
 */
export interface RawLine {
  /** 1-based line number in the file. */
  number: number;
  /** The line's bytes, without its "\n". */
  bytes: Buffer;
  /** False only for a last line with no "\n" after it (a torn write, or a write in progress). */
  terminated: boolean;
}

const NEWLINE = 0x0a;
const CHUNK = 1 << 20;

/** Every line of the file, in order, reading a chunk at a time (logs can be large). */
export function* readLinesForward(path: string): Generator<RawLine> {
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.alloc(CHUNK);
    let partial: Buffer[] = [];
    let number = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) break;
      let from = 0;
      for (let at = chunk.indexOf(NEWLINE, 0); at !== -1 && at < n; at = chunk.indexOf(NEWLINE, from)) {
        partial.push(Buffer.from(chunk.subarray(from, at)));
        yield { number: ++number, bytes: Buffer.concat(partial), terminated: true };
        partial = [];
        from = at + 1;
      }
      if (from < n) partial.push(Buffer.from(chunk.subarray(from, n)));
    }
    if (partial.length > 0) yield { number: ++number, bytes: Buffer.concat(partial), terminated: false };
  } finally {
    closeSync(fd);
  }
}

export interface LineSpan {
  /** Offset of the line's first byte. */
  start: number;
  /** Offset just past its last byte (where its "\n" is, if terminated). */
  end: number;
  bytes: Buffer;
  terminated: boolean;
}

function readRange(fd: number, start: number, end: number): Buffer {
  const buffer = Buffer.alloc(end - start);
  let done = 0;
  while (done < buffer.length) {
    const n = readSync(fd, buffer, done, buffer.length - done, start + done);
    if (n === 0) throw new Error(`audit log shrank while it was being read (at offset ${start + done})`);
    done += n;
  }
  return buffer;
}

/** Offset of the last "\n" strictly before `end`, or -1. */
function lastNewlineBefore(fd: number, end: number): number {
  for (let to = end; to > 0; to -= CHUNK) {
    const from = Math.max(0, to - CHUNK);
    const at = readRange(fd, from, to).lastIndexOf(NEWLINE);
    if (at !== -1) return from + at;
  }
  return -1;
}

/** The file's lines from the last one backwards, so that opening a large log reads only its tail. */
export function* linesBackward(fd: number): Generator<LineSpan> {
  const size = fstatSync(fd).size;
  if (size === 0) return;
  let terminated = readRange(fd, size - 1, size)[0] === NEWLINE;
  let end = terminated ? size - 1 : size;
  for (;;) {
    const start = lastNewlineBefore(fd, end) + 1;
    yield { start, end, bytes: readRange(fd, start, end), terminated };
    if (start === 0) return;
    end = start - 1;
    terminated = true;
  }
}

/** SHA-256 (hex) of the bytes [start, end) of a file, read a chunk at a time. */
export function hashRange(fd: number, start: number, end: number): string {
  const hash = createHash('sha256');
  for (let at = start; at < end; at += CHUNK) hash.update(readRange(fd, at, Math.min(end, at + CHUNK)));
  return hash.digest('hex');
}
