import { randomUUID } from 'node:crypto';
import { audit } from '../../audit/audit-log';
import { endpointName } from '../endpoint-post';
import type { OpsContext, OpsPart } from '../operations';
import type { NotifyOptions } from '../ops-options';
import { DeadLetterFile } from './dead-letter';
import { DeliveryQueue, type DeliveryQueueOptions } from './delivery-queue';
import { notificationBody } from './notification-body';
import { watchNotifiableEvents } from './notification-facts';

/**
 * Webhooks (`--notify-url`): each event people are told about becomes one signed notification, queued for the
 * receiver and audited by its delivery id. It only tells: the decision on an approval stays signed by a reviewer's
 * key in the editor or the CLI, and nothing the receiver answers reaches the broker's state.
 */
export function startNotifier(context: OpsContext, options: NotifyOptions, tuning: Pick<DeliveryQueueOptions, 'retryDelay'> = {}): OpsPart {
  const { broker, log } = context;
  const endpoint = endpointName(options.url);
  let dropped = 0;
  const onError = (err: unknown) => audit(log).error('notify.internal-error', { err: (err as Error)?.message ?? String(err) }, 'a webhook notification failed inside the broker');
  const queue = new DeliveryQueue({
    endpoint: { url: options.url, ...(options.ca ? { ca: options.ca } : {}) },
    secret: options.secret,
    deadLetters: new DeadLetterFile(context.dataDir),
    onError,
    ...tuning,
    report: {
      delivered: (n, attempts, status) => audit(log).info('notify.delivered', { deliveryId: n.deliveryId, type: n.type, endpoint, attempts, status }, 'notification delivered'),
      failed: (n, attempt, d) =>
        audit(log).warn('notify.failed', { deliveryId: n.deliveryId, type: n.type, endpoint, attempt, error: d.error, ...(d.status ? { status: d.status } : {}) }, 'notification not delivered; it is retried'),
      deadLettered: (n, reason, attempts, written) => {
        if (!written) dropped += 1;
        audit(log).warn('notify.dead-lettered', { deliveryId: n.deliveryId, type: n.type, endpoint, reason, attempts, written, dropped }, written ? 'notification given up: in the dead-letter file' : 'notification given up: the dead-letter file is full, only counted');
      },
    },
  });
  const unsubscribe = watchNotifiableEvents(
    broker.events,
    broker,
    (facts) => {
      const envelope = { deliveryId: randomUUID(), time: new Date().toISOString(), broker: broker.info().did };
      queue.push({ deliveryId: envelope.deliveryId, type: facts.type, body: notificationBody(facts, envelope, options.format) });
    },
    onError,
  );
  audit(log).info('notify.started', { endpoint, format: options.format }, 'webhook notifications on');
  return {
    async stop() {
      unsubscribe();
      queue.stop();
    },
  };
}
