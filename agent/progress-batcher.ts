import type { ProgressStream as Stream } from '../core/wire/intent';
import type { TokenUsageReport } from '../core/wire/task';

/** Longest a chunk of output waits before it is sent, and the most text a progress event carries. */
const FLUSH_MS = 100;
const MAX_TEXT = 16 * 1024;

/**
 * Coalesces a tool's output into at most ~10 signed progress events a second
 * per stream, so a chatty command neither floods the broker (which closes
 * connections over their frame rate) nor costs a signature per line.
 */
export class ProgressBatcher {
  #seq = 0;
  #pending: { stream: Stream; text: string } | undefined;
  #timer?: NodeJS.Timeout;

  constructor(private readonly emit: (seq: number, stream: Stream, text: string, usage?: TokenUsageReport) => void) {}

  push(stream: Stream, text: string): void {
    if (this.#pending && this.#pending.stream !== stream) this.flush();
    this.#pending = { stream, text: (this.#pending?.text ?? '') + text };
    while (this.#pending && this.#pending.text.length >= MAX_TEXT) {
      const all: string = this.#pending.text;
      this.#pending = { stream, text: all.slice(MAX_TEXT) };
      this.emit(this.#seq++, stream, all.slice(0, MAX_TEXT));
      if (!this.#pending.text) this.#pending = undefined;
    }
    if (this.#pending && !this.#timer) this.#timer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** A task's token usage, in an event of its own, after the text it follows. */
  usage(report: TokenUsageReport, text: string): void {
    this.flush();
    this.emit(this.#seq++, 'status', text, report);
  }

  /** Sends what is buffered; called before the result so progress never arrives after it. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#pending) return;
    const { stream, text } = this.#pending;
    this.#pending = undefined;
    this.emit(this.#seq++, stream, text);
  }
}
