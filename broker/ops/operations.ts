import type pino from 'pino';
import type { Broker } from '../broker';
import type { OpsOptions } from './ops-options';
import { startNotifier } from './notify/notifier';
import { auditWitnesses } from '../audit/witness-part';
import { auditDestinationOf } from '../log';
import { startAuditStreams } from '../audit/streams/audit-streams';
import { startMetricsAndHealth } from './metrics-part';

/** One part of the operations side that runs beside the broker (a listener, a stream, a notifier). */
export interface OpsPart {
  stop(): Promise<void>;
}

export interface OpsContext {
  broker: Broker;
  log: pino.Logger;
  dataDir: string;
  /** The agent hub's URL, once it listens. */
  hubUrl: string;
}

/**
 * Starts what the operator asked for (ops-options.ts) once the broker's state is open and its hub listens:
 * metrics and health, audit streams, the checkpoint witness, notifications. Stopped in reverse order, before the
 * broker closes, so the last lines (the shutdown checkpoint excepted) still reach every destination.
 */
export async function startOperations(context: OpsContext, options: OpsOptions): Promise<OpsPart> {
  const parts: OpsPart[] = [];
  const stop = async () => {
    for (const part of parts.splice(0).reverse()) await part.stop();
  };
  try {
    if (options.notify) parts.push(startNotifier(context, options.notify));
    parts.push(...auditWitnesses(context, options));
    if (options.auditStreams.length > 0) {
      const destination = auditDestinationOf(context.log);
      if (!destination) throw new Error('audit streams need the broker logger (its audit.log)');
      parts.push(startAuditStreams({ destination, log: context.log, dataDir: context.dataDir }, options.auditStreams));
    }
    // Last: a metrics address already in use is the likeliest failure, and what started before it is stopped.
    if (options.metrics) parts.push(await startMetricsAndHealth(context, options.metrics));
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
