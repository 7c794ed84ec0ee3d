import { StringDecoder } from 'node:string_decoder';
import { decodeWithin } from './utf8';
import type { ProgressStream, ToolContext } from './types';

/** Well under ProgressBody's 64 KiB text limit, and small enough that a viewer sees output as it comes. */
const PROGRESS_CHUNK_UNITS = 16 * 1024;

/**
 * A progress sink that cannot throw into a child process's event handlers: an exception there would crash
 * the agent or leave the command unsupervised. The final result still carries the output.
 */
export function neverThrowing(onProgress: ToolContext['onProgress']): ToolContext['onProgress'] {
  return (stream, text) => {
    try {
      onProgress(stream, text);
    } catch {
      // dropped on purpose; see above
    }
  };
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Keeps the first `maxBytes` of one output stream of a command and forwards them as progress. Past the
 * cap it keeps reading and drops what it reads: a command that prints gigabytes neither fills the agent's
 * memory nor blocks on a full pipe (which would turn into a timeout).
 */
export class CappedOutput {
  readonly #chunks: Buffer[] = [];
  readonly #decoder = new StringDecoder('utf8');
  #kept = 0;
  #overflowed = false;

  constructor(
    private readonly stream: Exclude<ProgressStream, 'status'>,
    private readonly maxBytes: number,
    private readonly onProgress: ToolContext['onProgress'],
  ) {}

  push(chunk: Buffer): void {
    if (this.#overflowed) return;
    const room = this.maxBytes - this.#kept;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length > 0) {
      this.#chunks.push(kept);
      this.#kept += kept.length;
      this.#forward(this.stream, this.#decoder.write(kept));
    }
    if (chunk.length > room) {
      this.#overflowed = true;
      this.#forward('status', `${this.stream} passed ${this.maxBytes} bytes; the rest is discarded`);
    }
  }

  finish(): { text: string; truncated: boolean } {
    if (!this.#overflowed) this.#forward(this.stream, this.#decoder.end());
    const { text, truncated } = decodeWithin(Buffer.concat(this.#chunks), this.maxBytes);
    return { text, truncated: truncated || this.#overflowed };
  }

  #forward(stream: ProgressStream, text: string): void {
    for (let start = 0; start < text.length; ) {
      let end = Math.min(start + PROGRESS_CHUNK_UNITS, text.length);
      // A lone half of a surrogate pair is not valid UTF-8 and would not survive signing.
      if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end--;
      this.onProgress(stream, text.slice(start, end));
      start = end;
    }
  }
}
