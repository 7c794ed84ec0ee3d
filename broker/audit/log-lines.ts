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

/**
 * The file's lines from the last one backwards, so that opening a large log reads only its tail. One window
 * of the file is kept and extended a chunk at a time as lines need it, so each byte is read once.
 */
export function* linesBackward(fd: number): Generator<LineSpan> {
  const size = fstatSync(fd).size;
  if (size === 0) return;
  let terminated = readRange(fd, size - 1, size)[0] === NEWLINE;
  let end = terminated ? size - 1 : size;
  // The window holds the bytes [windowStart, end): the lines not yet yielded, as far back as read so far.
  let windowStart = end;
  let window = Buffer.alloc(0);
  for (;;) {
    let newline = end > windowStart ? window.lastIndexOf(NEWLINE, end - windowStart - 1) : -1;
    while (newline === -1 && windowStart > 0) {
      const from = Math.max(0, windowStart - CHUNK);
      window = Buffer.concat([readRange(fd, from, windowStart), window.subarray(0, end - windowStart)]);
      const searchFrom = windowStart - from - 1;
      windowStart = from;
      newline = window.lastIndexOf(NEWLINE, searchFrom);
      // Bytes already searched in the previous window hold no "\n": only the new chunk needs looking at.
    }
    const start = newline === -1 ? 0 : windowStart + newline + 1;
    yield { start, end, bytes: Buffer.from(window.subarray(start - windowStart, end - windowStart)), terminated };
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
