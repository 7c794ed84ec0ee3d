import { closeSync, fchmodSync, fstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AuditEvent } from '../../core/audit/events';
import { GENESIS_PREV, TORN_LINE_EVENT, sha256Hex } from './chain';
import { findResumePoint, type TornRegion } from './resume-point';
import { WriterLock } from './writer-lock';

/** The chain position the next entry will take. */
export interface ChainHead {
  nextSeq: number;
  /** Hash of the last entry (GENESIS_PREV before the first): the next entry's prev. */
  head: string;
}

export interface AppendedEntry {
  seq: number;
  hash: string;
  fields: Record<string, unknown>;
  /** The exact bytes written to audit.log (without the newline): what hashes to `hash`, what a SIEM verifies. */
  line: string;
}

/**
 * A pino destination (anything with write(line)) that turns each log line
 * into a chained audit.log entry: it parses the line pino made, adds seq and
 * prev, re-serializes, hashes the exact bytes and appends them synchronously.
 * Synchronous on purpose: an entry is on disk (in the page cache) before the
 * log call returns, the chain order is the call order, and a checkpoint can
 * read the head and know the next entry takes exactly that place.
 *
 * A failed write fails closed: the error reaches the log call, and every later
 * write throws too, because appending after a partial line would glue two
 * entries together; the next open() recovers the torn tail.
 */
export class ChainedDestination {
  #fd: number | null;
  #nextSeq: number;
  #head: string;
  #failure: Error | null = null;
  readonly #listeners = new Set<(entry: AppendedEntry) => void>();
  readonly #failureListeners = new Set<(failure: Error) => void>();

  private constructor(
    readonly path: string,
    private readonly lock: WriterLock,
    fd: number,
    head: ChainHead,
    /** The fragment a crash left at the end of the file, recorded on open; null if there was none. */
    readonly recoveredTornTail: TornRegion | null,
  ) {
    this.#fd = fd;
    this.#nextSeq = head.nextSeq;
    this.#head = head.head;
  }

  /** Opens (or creates, 0600) the log and resumes its chain after its last complete entry. One writer per file. */
  static open(path: string): ChainedDestination {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const lock = WriterLock.acquire(path);
    let fd: number;
    try {
      fd = openSync(path, 'a+', 0o600);
    } catch (err) {
      lock.release();
      throw err;
    }
    try {
      // The mode only applies on creation; an existing log is tightened too (it records who did what).
      fchmodSync(fd, 0o600);
      const resume = findResumePoint(fd, path);
      const head: ChainHead = resume.last ? { nextSeq: resume.last.seq + 1, head: resume.last.hash } : { nextSeq: 0, head: GENESIS_PREV };
      const destination = new ChainedDestination(path, lock, fd, head, resume.torn);
      if (resume.lastUnterminated) destination.#writeAll('\n');
      if (resume.torn) destination.#recordTornTail(resume.torn);
      return destination;
    } catch (err) {
      closeSync(fd);
      lock.release();
      throw err;
    }
  }

  get state(): ChainHead {
    return { nextSeq: this.#nextSeq, head: this.#head };
  }

  /**
   * The file the broker writes (device and inode; null once closed) and the failure that stopped the log, if one
   * did: readiness compares them with what is at `path` now, to say the log will not take a line before one fails.
   */
  health(): { file: { dev: number; ino: number } | null; failure: Error | null } {
    if (this.#fd === null) return { file: null, failure: this.#failure };
    const { dev, ino } = fstatSync(this.#fd);
    return { file: { dev, ino }, failure: this.#failure };
  }

  /** Called after each entry is on disk; returns the unsubscribe function. */
  onAppend(listener: (entry: AppendedEntry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Called once, when a write fails and the log stops taking entries. */
  onFailure(listener: (failure: Error) => void): void {
    this.#failureListeners.add(listener);
  }

  /** pino's entry point: one JSON line per call (split defensively if it ever hands over several). */
  write(data: string): void {
    for (const line of data.split('\n')) {
      if (line.length === 0) continue;
      let fields: unknown;
      try {
        fields = JSON.parse(line);
      } catch {
        fields = undefined;
      }
      // pino only writes JSON objects; anything else is kept, quoted, rather than lost.
      this.append(typeof fields === 'object' && fields !== null && !Array.isArray(fields) ? (fields as Record<string, unknown>) : { event: 'audit.unparsed' satisfies AuditEvent, raw: line });
    }
  }

  /** Appends one entry: the chain fields first (seq, prev), then the caller's fields. */
  append(fields: Record<string, unknown>): AppendedEntry {
    const seq = this.#nextSeq;
    const prev = this.#head;
    // seq and prev belong to the chain. A caller's own value that differs is kept under another name, not dropped.
    const { seq: callerSeq, prev: callerPrev, ...rest } = fields;
    const shadowed = {
      ...(callerSeq !== undefined && callerSeq !== seq ? { seq: callerSeq } : {}),
      ...(callerPrev !== undefined && callerPrev !== prev ? { prev: callerPrev } : {}),
    };
    const entry = { seq, prev, ...rest, ...(Object.keys(shadowed).length > 0 ? { shadowedChainFields: shadowed } : {}) };
    const line = JSON.stringify(entry);
    const bytes = Buffer.from(line, 'utf8');
    this.#writeAll(Buffer.concat([bytes, Buffer.from('\n')]));
    const hash = sha256Hex(bytes);
    this.#nextSeq = seq + 1;
    this.#head = hash;
    const appended = { seq, hash, fields: entry, line };
    for (const listener of this.#listeners) listener(appended);
    return appended;
  }

  /** Writes are synchronous: nothing is buffered. Present because pino calls it on flush and exit. */
  flushSync(): void {}

  close(): void {
    if (this.#fd === null) return;
    closeSync(this.#fd);
    this.#fd = null;
    this.#failure ??= new Error(`${this.path} is closed`);
    this.lock.release();
  }

  #recordTornTail(torn: TornRegion): void {
    // One write: the fragment's "\n" and the record land together or (if this write tears too) leave one more fragment.
    const record = {
      seq: this.#nextSeq,
      prev: this.#head,
      level: 40,
      time: Date.now(),
      pid: process.pid,
      component: 'audit',
      event: TORN_LINE_EVENT,
      torn: { lines: torn.lines, bytes: torn.bytes, sha256: torn.sha256 },
      msg: 'audit.log ended in a partial line (a crash while writing?); it is kept, unverified, and this record freezes its bytes',
    };
    const bytes = Buffer.from(JSON.stringify(record), 'utf8');
    this.#writeAll(Buffer.concat([Buffer.from(torn.terminated ? '' : '\n'), bytes, Buffer.from('\n')]));
    this.#nextSeq += 1;
    this.#head = sha256Hex(bytes);
  }

  #writeAll(data: string | Buffer): void {
    if (this.#failure) throw this.#failure;
    if (this.#fd === null) throw new Error(`${this.path} is closed`);
    const buffer = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    try {
      // writeSync may write part of a buffer (a full disk): keep going until all of it is down, or fail.
      for (let done = 0; done < buffer.length; ) done += writeSync(this.#fd, buffer, done, buffer.length - done);
    } catch (err) {
      this.#failure = new Error(`audit log write failed, no further entries will be written: ${(err as Error).message}`);
      for (const listener of this.#failureListeners) listener(this.#failure);
      throw this.#failure;
    }
  }
}
