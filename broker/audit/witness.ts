import { closeSync, fchmodSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type pino from 'pino';
import { guarded } from '../../core/io/guarded';
import { CHECKPOINT_EVENT } from './chain';
import type { AppendedEntry, ChainedDestination } from './chained-destination';
import { audit } from './audit-log';
import { lastCheckpointIn } from './last-checkpoint';
import { linesBackward } from './log-lines';

/**
 * `broker start --witness <file>`: every signed checkpoint, its exact audit.log bytes, appended to a file the
 * operator keeps elsewhere (another mount, another host's share). Checkpoints sign every entry before them, but
 * only a copy held outside the broker host makes cutting the newest of them off audit.log detectable:
 * `broker audit verify --witness` then finds the log shorter than what the witness saw.
 *
 * Synchronous and fsync'd, like audit.log itself: the shutdown checkpoint is written from the process's 'exit'
 * handler, where nothing asynchronous runs any more. A witness that cannot be written never stops the broker or
 * delays an intent: the failure is audited once per streak, and the next checkpoint tries again (reopening).
 */
export class CheckpointWitness {
  #fd: number | null = null;
  /** Checkpoints not written since the first failure of the current streak; null while all is well. */
  #missed: number | null = null;
  /** A failed write may have left part of a line: the next one starts on a line of its own (the reader skips the fragment). */
  #fragmentLeft = false;
  readonly #unsubscribe: () => void;

  constructor(
    readonly file: string,
    destination: ChainedDestination,
    private readonly log: pino.Logger,
  ) {
    this.#unsubscribe = destination.onAppend(
      guarded(
        (err) => process.stderr.write(`broker: the audit witness ${file} failed: ${(err as Error).message}\n`),
        (entry: AppendedEntry) => this.#witness(entry),
      ),
    );
    try {
      this.#open();
      // The checkpoint the log already ends its signed part with (the start one, written before the operations
      // side, or the last run's shutdown one): a broker cut before its next checkpoint is still witnessed.
      const last = lastCheckpointIn(destination.path);
      if (last && !this.#endsWith(last.line)) this.#append(last.line.toString('utf8'));
    } catch (err) {
      // Said at once, not only at the first checkpoint: a mistyped path or a missing mount shows in the log at start.
      this.#missed = 0;
      this.#report({ what: 'failed', error: (err as Error).message, checkpointSeq: null }, false);
    }
  }

  #witness(entry: AppendedEntry): void {
    if (entry.fields.event !== CHECKPOINT_EVENT) return;
    const shutdown = entry.fields.reason === 'shutdown';
    // The streak's state changes before its audit line: that line can itself bring a checkpoint here (every N lines).
    try {
      this.#append(entry.line);
      const missed = this.#missed;
      this.#missed = null;
      if (missed !== null) this.#report({ what: 'recovered', missed, checkpointSeq: entry.seq }, shutdown);
    } catch (err) {
      this.#closeFile();
      this.#fragmentLeft = true;
      const first = this.#missed === null;
      this.#missed = (this.#missed ?? 0) + 1;
      if (first) this.#report({ what: 'failed', error: (err as Error).message, checkpointSeq: entry.seq }, shutdown);
    }
    // The logger's close writes the shutdown checkpoint at process exit, after the operations side has stopped:
    // the witness stays subscribed until then, and that checkpoint is the last thing it writes.
    if (shutdown) {
      this.#unsubscribe();
      this.#closeFile();
    }
  }

  /** Whether the witness file's last line is `line` (a restarted broker's log ends with what it witnessed last). */
  #endsWith(line: Buffer): boolean {
    const fd = openSync(this.file, 'r');
    try {
      for (const span of linesBackward(fd)) return span.bytes.equals(line);
      return false;
    } finally {
      closeSync(fd);
    }
  }

  #open(): number {
    if (this.#fd !== null) return this.#fd;
    const fd = openSync(this.file, 'a', 0o600);
    this.#fd = fd;
    // The mode only applies on creation: an existing witness is tightened too (it says how far the log went).
    fchmodSync(fd, 0o600);
    return fd;
  }

  #append(line: string): void {
    const fd = this.#open();
    const bytes = Buffer.from(`${this.#fragmentLeft ? '\n' : ''}${line}\n`, 'utf8');
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
    this.#fragmentLeft = false;
  }

  /** `checkpointSeq`: the checkpoint it failed or recovered on (null: the file did not open at start). */
  #report(change: { what: 'failed'; error: string; checkpointSeq: number | null } | { what: 'recovered'; missed: number; checkpointSeq: number }, shutdown: boolean): void {
    // After the shutdown checkpoint an audit line would be an unsigned tail of its own: that one goes to stderr only.
    if (shutdown) {
      process.stderr.write(`broker: the audit witness ${this.file} ${change.what === 'failed' ? `could not take the shutdown checkpoint: ${change.error}` : 'took the shutdown checkpoint'}\n`);
      return;
    }
    if (change.what === 'failed') {
      audit(this.log).warn('audit.witness-failed', { file: this.file, err: change.error, checkpointSeq: change.checkpointSeq }, 'the audit witness cannot be written; the broker goes on, and tries again at the next checkpoint');
    } else {
      audit(this.log).info('audit.witness-recovered', { file: this.file, missed: change.missed, checkpointSeq: change.checkpointSeq }, 'the audit witness is written again');
    }
  }

  #closeFile(): void {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    try {
      closeSync(fd);
    } catch {
      // Already failing (a lost mount): the next checkpoint reopens the file by its name.
    }
  }
}
