import type pino from 'pino';
import type { AuditLine } from '../../core/audit/events';
import { guarded } from '../../core/io/guarded';
import { audit } from './audit-log';

/** Reasons kept per summary: they come from fixed sets, but the summary stays bounded whatever arrives. */
const MAX_REASONS = 32;

export interface WindowedRefusalAuditOptions {
  /** Lines written in full per interval; the rest are counted. */
  fullLines: number;
  intervalMs: number;
  now: () => number;
  /** Writes the one line that counts, per reason, what was not written in full this interval. */
  summarise(suppressed: number, reasons: Record<string, number>): void;
  /** The summary timer's own failure (the log's destination gone). */
  onTimerError(err: unknown): void;
}

/**
 * The audit budget of refusals a peer chooses the rate of. The audit log is hash-chained and fails closed when its
 * disk is full, so a line per refused message would let whoever sends them fill the disk and stop the broker for
 * everyone: the first `fullLines` of each interval are written in full (what an operator debugging one
 * misconfigured peer needs), the rest counted per reason into one summary line at the end of the interval (a timer
 * armed only while there is something to summarise) or at flush().
 */
export class WindowedRefusalAudit<L extends AuditLine> {
  #windowStart = 0;
  #written = 0;
  #suppressed = 0;
  readonly #reasons = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: pino.Logger,
    private readonly options: WindowedRefusalAuditOptions,
  ) {}

  refused(line: L, message: string): void {
    const now = this.options.now();
    if (now - this.#windowStart >= this.options.intervalMs) {
      this.flush();
      this.#windowStart = now;
      this.#written = 0;
    }
    if (this.#written < this.options.fullLines) {
      this.#written++;
      audit(this.log).line('warn', line, message);
      return;
    }
    this.#suppressed++;
    const reason = `${line.event}:${'reason' in line && line.reason ? line.reason : 'code' in line && line.code ? line.code : 'refused'}`;
    const key = this.#reasons.has(reason) || this.#reasons.size < MAX_REASONS - 1 ? reason : 'other';
    this.#reasons.set(key, (this.#reasons.get(key) ?? 0) + 1);
    this.#timer ??= setTimeout(
      guarded(this.options.onTimerError, () => this.flush()),
      Math.max(0, this.#windowStart + this.options.intervalMs - now),
    ).unref();
  }

  /** Writes the summary of what was counted, if anything was. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#suppressed === 0) return;
    const suppressed = this.#suppressed;
    const reasons = Object.fromEntries(this.#reasons);
    this.#suppressed = 0;
    this.#reasons.clear();
    this.options.summarise(suppressed, reasons);
  }
}
