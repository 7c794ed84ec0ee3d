import { statSync } from 'node:fs';
import { BUDGETS } from '../../../core/budgets';
import type { AppendedEntry, ChainedDestination } from '../chained-destination';
import { offsetAfter, readEntries, type StreamedLine } from './log-reader';
import type { StreamCursor } from './stream-cursor';

/** One batch a destination is sent at most: a constant of ours, not anyone's input. */
export const STREAM_BATCH_LINES = 1_000;
export const STREAM_BATCH_BYTES = 1024 * 1024;
/** Lines heard of ahead of one not heard of yet: a listener's nested line or two, never more unless something is wrong. */
const MAX_EARLY_LINES = 16;

/**
 * The audit lines one destination has not acknowledged yet, in order. Live lines are held in memory as audit.log
 * takes them; past BUDGETS.auditStreamMemoryLines (a destination slow or down for long) they are dropped and the
 * destination reads audit.log from its last acknowledged line instead, a batch at a time, until it reaches the
 * tail and holds live lines again. Memory stays bounded, nothing is lost, and nothing that writes a line waits.
 */
export class AuditLineFeed {
  /** Unacknowledged lines in memory, or null while catching up from the file. */
  #live: StreamedLine[] | null = null;
  /** Offset where the next line audit.log takes will start (meaningful while live). */
  #liveEnd = 0;
  #acked: StreamCursor | null;
  /** Offset where the first unacknowledged line starts. */
  #ackedEnd: number;
  /** The seq the next live line must have, and lines heard of before it (see append). */
  #nextSeq = 0;
  readonly #early = new Map<number, AppendedEntry>();
  #wake: (() => void) | null = null;
  #closed = false;

  constructor(
    private readonly destination: ChainedDestination,
    acked: StreamCursor | null,
  ) {
    const after = acked ? offsetAfter(destination.path, acked) : null;
    this.#acked = after === null ? null : acked;
    this.#ackedEnd = after ?? 0;
  }

  get path(): string {
    return this.destination.path;
  }

  /**
   * audit.log's onAppend: runs inside the write of an audit line, so it only enqueues. Listeners may append from
   * inside that call (the checkpoint after every N lines does), so a later line can be heard of before the one
   * that precedes it in the file: it waits for it here, and anything stranger sends the feed back to the file.
   */
  append(entry: AppendedEntry): void {
    if (this.#live === null) return; // Catching up: the file has it.
    this.#early.set(entry.seq, entry);
    for (let next = this.#early.get(this.#nextSeq); next; next = this.#early.get(this.#nextSeq)) {
      this.#early.delete(next.seq);
      this.#nextSeq += 1;
      this.#liveEnd += Buffer.byteLength(next.line, 'utf8') + 1;
      this.#live.push({ seq: next.seq, hash: next.hash, line: next.line, fields: next.fields, end: this.#liveEnd });
    }
    if (this.#live.length > BUDGETS.auditStreamMemoryLines.limit || this.#early.size > MAX_EARLY_LINES) this.#catchUp();
    this.#wakeUp();
  }

  /** Lines held in memory now. */
  get held(): number {
    return this.#live?.length ?? 0;
  }

  /** Reading audit.log to catch up rather than holding lines. */
  get catchingUp(): boolean {
    return this.#live === null;
  }

  /** At most one batch behind the tail of audit.log: what a destination that recovered reaches. */
  get caughtUp(): boolean {
    if (this.#live === null) {
      try {
        return statSync(this.path).size <= this.#ackedEnd;
      } catch {
        return false;
      }
    }
    return this.#live.length <= STREAM_BATCH_LINES;
  }

  /** Every line written so far is acknowledged. */
  get idle(): boolean {
    return this.#live !== null && this.#live.length === 0;
  }

  get acknowledged(): StreamCursor | null {
    return this.#acked;
  }

  /** The next lines after the last acknowledged one (the same again after a failed delivery); waits for one. Empty once closed. */
  async next(): Promise<StreamedLine[]> {
    for (;;) {
      if (this.#closed) return [];
      if (this.#live === null) {
        const batch = readEntries(this.path, this.#ackedEnd, this.#acked?.seq ?? -1, STREAM_BATCH_LINES, STREAM_BATCH_BYTES);
        if (batch.lines.length > 0) return batch.lines;
        if (!batch.eof) {
          // Only lines that are no entries so far: nothing to send for them.
          this.#ackedEnd = batch.end;
          continue;
        }
        // Every line written so far has been read, in this same turn: from now on the new ones are held.
        this.#live = [];
        this.#liveEnd = batch.end;
        this.#nextSeq = this.destination.state.nextSeq;
      }
      if (this.#live.length > 0) return firstBatch(this.#live);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** The destination took these lines (the last batch next() gave): they are not sent again. */
  ack(lines: readonly StreamedLine[]): StreamCursor | null {
    const last = lines.at(-1);
    if (!last || (this.#acked && last.seq <= this.#acked.seq)) return this.#acked;
    this.#acked = { seq: last.seq, hash: last.hash, end: last.end, bytes: Buffer.byteLength(last.line, 'utf8') };
    this.#ackedEnd = last.end;
    if (this.#live) {
      const delivered = this.#live.findIndex((line) => line.seq > last.seq);
      this.#live.splice(0, delivered === -1 ? this.#live.length : delivered);
    }
    return this.#acked;
  }

  /** Lets the lines in memory go: the destination reads audit.log, the truth, from its last acknowledged line instead. */
  resync(): void {
    this.#catchUp();
  }

  #catchUp(): void {
    this.#live = null;
    this.#early.clear();
  }

  close(): void {
    this.#closed = true;
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

function firstBatch(lines: readonly StreamedLine[]): StreamedLine[] {
  let bytes = 0;
  let count = 0;
  while (count < lines.length && count < STREAM_BATCH_LINES && (count === 0 || bytes < STREAM_BATCH_BYTES)) bytes += lines[count++]!.line.length;
  return lines.slice(0, count);
}
