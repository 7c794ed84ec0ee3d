import { BUDGETS } from '../../../core/budgets';
import { guarded } from '../../../core/io/guarded';
import { NOTIFY_DELIVERY_HEADER, NOTIFY_SIGNATURE_HEADER, signNotification } from '../../../core/ops/notification-signature';
import type { NotificationType } from '../../../core/ops/notification';
import { postToEndpoint, retryDelay, type Delivery, type Endpoint } from '../endpoint-post';
import type { DeadLetterFile, DeadLetterReason } from './dead-letter';

export interface Outgoing {
  deliveryId: string;
  type: NotificationType;
  body: Buffer;
}

/** What the queue says of each notification, for the audit log. */
export interface DeliveryReport {
  delivered(n: Outgoing, attempts: number, status: number): void;
  failed(n: Outgoing, attempt: number, delivery: Extract<Delivery, { ok: false }>): void;
  deadLettered(n: Outgoing, reason: DeadLetterReason, attempts: number, written: boolean): void;
}

export interface DeliveryQueueOptions {
  endpoint: Endpoint;
  secret: Buffer;
  deadLetters: DeadLetterFile;
  report: DeliveryReport;
  onError: (err: unknown) => void;
  /** retryDelay of endpoint-post.ts unless given (an in-process test of the queue's bounds). */
  retryDelay?: (failures: number) => number;
}

interface Item {
  n: Outgoing;
  attempts: number;
}

/**
 * Notifications to one receiver, in order, one at a time: each is signed afresh at every attempt (the receiver
 * refuses stale timestamps) and tried up to BUDGETS.notifyAttempts times with retryDelay between, then goes to the
 * dead-letter file. At most BUDGETS.notifyQueue wait behind the one being delivered; past it the oldest waiting goes
 * to the dead-letter file. Nothing here waits on the broker or makes it wait: push returns at once.
 */
export class DeliveryQueue {
  readonly #waiting: Item[] = [];
  #current: Item | undefined;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #options: DeliveryQueueOptions;
  readonly #retryDelay: (failures: number) => number;
  readonly #attempt: (item: Item) => void;

  constructor(options: DeliveryQueueOptions) {
    this.#options = options;
    this.#retryDelay = options.retryDelay ?? retryDelay;
    // A report that throws (the audit log's disk gone) must not stall the queue: what is next still goes.
    this.#attempt = guarded(
      (err) => {
        this.#current = undefined;
        options.onError(err);
        this.#next();
      },
      (item: Item) => this.#tryOnce(item),
    );
  }

  /** Waiting behind the one in delivery. */
  get waiting(): number {
    return this.#waiting.length;
  }

  push(n: Outgoing): void {
    if (this.#stopped) return this.#deadLetter({ n, attempts: 0 }, 'stopping');
    if (this.#waiting.length >= BUDGETS.notifyQueue.limit) this.#deadLetter(this.#waiting.shift()!, 'queue-full');
    this.#waiting.push({ n, attempts: 0 });
    this.#next();
  }

  /** What is still queued goes to the dead-letter file (its delivery id lets a receiver drop one that arrived meanwhile). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    const left = [...(this.#current ? [this.#current] : []), ...this.#waiting.splice(0)];
    this.#current = undefined;
    for (const item of left) this.#deadLetter(item, 'stopping');
  }

  #next(): void {
    if (this.#stopped || this.#current) return;
    const item = this.#waiting.shift();
    if (!item) return;
    this.#current = item;
    this.#attempt(item);
  }

  async #tryOnce(item: Item): Promise<void> {
    item.attempts += 1;
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      [NOTIFY_DELIVERY_HEADER]: item.n.deliveryId,
      [NOTIFY_SIGNATURE_HEADER]: signNotification(this.#options.secret, item.n.body, timestamp),
    };
    const delivery = await postToEndpoint(this.#options.endpoint, item.n.body, headers);
    // Stopped meanwhile: stop() has dead-lettered it already.
    if (this.#current !== item) return;
    if (delivery.ok) {
      this.#options.report.delivered(item.n, item.attempts, delivery.status);
      return this.#done();
    }
    this.#options.report.failed(item.n, item.attempts, delivery);
    if (item.attempts >= BUDGETS.notifyAttempts.limit) {
      this.#deadLetter(item, 'attempts');
      return this.#done();
    }
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#current === item) this.#attempt(item);
    }, this.#retryDelay(item.attempts));
  }

  #done(): void {
    this.#current = undefined;
    this.#next();
  }

  #deadLetter(item: Item, reason: DeadLetterReason): void {
    const { n, attempts } = item;
    try {
      const written = this.#options.deadLetters.write({ deliveryId: n.deliveryId, type: n.type, reason, attempts, body: n.body.toString('utf8') });
      this.#options.report.deadLettered(n, reason, attempts, written);
    } catch (err) {
      // The data directory unwritable: said once per letter, and the queue goes on.
      this.#options.onError(err);
    }
  }
}
