import type { Writable } from 'node:stream';
import { BUDGETS } from '../../../core/budgets';
import type { StreamedLine } from './log-reader';
import type { SendResult, StreamTransport } from './stream-transport';

/**
 * The exact lines on stdout (never with --stdio, where stdout is the JSON-RPC channel): taken once the stream has
 * handed them to the OS. A reader that went away (EPIPE) makes every later delivery fail instead of the process.
 */
export class StdoutTransport implements StreamTransport {
  readonly kind = 'stdout';
  readonly name = 'stdout';
  #broken: Error | null = null;
  readonly #onError = (err: Error) => {
    this.#broken = err;
  };

  constructor(
    private readonly out: Writable = process.stdout,
    private readonly deliveryMs: number = BUDGETS.endpointDeliveryMs.limit,
  ) {
    out.on('error', this.#onError);
  }

  send(lines: readonly StreamedLine[]): Promise<SendResult> {
    if (this.#broken) return Promise.resolve({ ok: false, error: `stdout: ${this.#broken.message}` });
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ ok: false, error: `stdout took nothing within ${this.deliveryMs} ms` }), this.deliveryMs);
      const done = (result: SendResult) => {
        clearTimeout(timer);
        resolve(result);
      };
      try {
        this.out.write(lines.map((l) => `${l.line}\n`).join(''), (err) => done(err ? { ok: false, error: `stdout: ${err.message}` } : { ok: true }));
      } catch (err) {
        done({ ok: false, error: `stdout: ${(err as Error).message}` });
      }
    });
  }

  close(): void {
    this.out.removeListener('error', this.#onError);
  }
}
