import type pino from 'pino';
import { guarded } from '../../../core/io/guarded';
import { retryDelay } from '../../ops/endpoint-post';
import { audit } from '../audit-log';
import { STREAM_BATCH_LINES, type AuditLineFeed } from './audit-line-feed';
import { saveCursor, type StreamCursor } from './stream-cursor';
import type { StreamTransport } from './stream-transport';

/** How often, at most, a destination's cursor is written while lines flow (and once more when it stops). */
export const CURSOR_SAVE_MS = 1_000;
/**
 * How long a batch that is not full waits for more lines before it goes: a line a few at a time would cost a
 * connection and a TLS handshake each (an HTTPS POST) on a broker that is only moderately busy.
 */
export const STREAM_LINGER_MS = 250;
const REASON_CHARS = 200;

/**
 * One destination's delivery loop: the next batch from its feed, sent, acknowledged (the cursor moves) or, on
 * failure, sent again after retryDelay. A failing episode writes two audit lines, when it starts and when the
 * destination has caught up, whatever the number of attempts between: those lines are streamed as well, and a
 * line per retry would feed the very queue that cannot drain.
 */
export class AuditStream {
  #stopping = false;
  #cancelWait: (() => void) | null = null;
  #saveTimer: NodeJS.Timeout | null = null;
  #failing: { since: number; attempts: number; delivered: number } | null = null;

  constructor(
    readonly feed: AuditLineFeed,
    readonly transport: StreamTransport,
    private readonly cursorFile: string,
    private readonly log: pino.Logger,
  ) {}

  /** Failing now (between the failing line and the recovered one). */
  get failing(): boolean {
    return this.#failing !== null;
  }

  start(): void {
    void this.#run().catch((err: unknown) => {
      // Only the audit log itself failing gets here; the broker stops for that on its own (broker/log.ts).
      process.stderr.write(`broker: audit stream to ${this.transport.name} stopped: ${(err as Error).message}\n`);
    });
  }

  /** Waits up to `flushMs` for what is queued to be delivered, then stops and saves the cursor. */
  async stop(flushMs: number): Promise<void> {
    const deadline = Date.now() + flushMs;
    while (!this.feed.idle && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    this.#stopping = true;
    this.feed.close();
    this.#cancelWait?.();
    this.transport.close();
    // The loop ends now, or when the delivery in flight settles (bounded by the delivery time): not waited for.
    this.#saveNow();
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      let batch = await this.feed.next();
      if (batch.length > 0 && batch.length < STREAM_BATCH_LINES && !this.#stopping) {
        await this.#wait(STREAM_LINGER_MS);
        batch = await this.feed.next();
      }
      if (batch.length === 0 || this.#stopping) return;
      const result = await this.transport.send(batch);
      if (this.#stopping) return;
      if (result.ok) {
        this.feed.ack(batch);
        this.#scheduleSave();
        if (this.#failing) {
          this.#failing.delivered += batch.length;
          if (this.feed.caughtUp) this.#recovered();
        }
      } else {
        this.#failed(result.error);
        await this.#wait(retryDelay(this.#failing?.attempts ?? 1));
      }
    }
  }

  #failed(reason: string): void {
    if (this.#failing) {
      this.#failing.attempts += 1;
      return;
    }
    this.#failing = { since: Date.now(), attempts: 1, delivered: 0 };
    audit(this.log).warn(
      'audit.stream-failing',
      { destination: this.transport.kind, endpoint: this.transport.name, reason: reason.slice(0, REASON_CHARS) },
      'an audit stream destination is failing; its lines wait (in memory, then in audit.log) and are sent when it takes them again',
    );
  }

  #recovered(): void {
    const failing = this.#failing!;
    this.#failing = null;
    audit(this.log).info(
      'audit.stream-recovered',
      { destination: this.transport.kind, endpoint: this.transport.name, caughtUp: failing.delivered, attempts: failing.attempts, downMs: Date.now() - failing.since },
      'an audit stream destination took every line again',
    );
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#cancelWait = done;
    });
  }

  #scheduleSave(): void {
    if (this.#saveTimer) return;
    this.#saveTimer = setTimeout(
      guarded(
        () => undefined,
        () => {
          this.#saveTimer = null;
          this.#saveNow();
        },
      ),
      CURSOR_SAVE_MS,
    );
    this.#saveTimer.unref();
  }

  #saveNow(): void {
    if (this.#saveTimer) clearTimeout(this.#saveTimer);
    this.#saveTimer = null;
    const cursor: StreamCursor | null = this.feed.acknowledged;
    if (!cursor) return;
    try {
      saveCursor(this.cursorFile, cursor);
    } catch {
      // A cursor not saved (a full disk) only means lines sent again after a restart: at-least-once either way.
    }
  }
}
