import { auditDestinationOf } from '../log';
import type { OpsContext, OpsPart } from '../ops/operations';
import type { OpsOptions } from '../ops/ops-options';
import { AuditHeadPush } from './audit-head-push';
import { CheckpointWitness } from './witness';

/**
 * The witnesses of the audit log's head the broker feeds: its connected agents, always, and the --witness file
 * when asked for. Nothing without the broker's own chained audit.log (a logger from elsewhere).
 */
export function auditWitnesses(context: OpsContext, options: OpsOptions): OpsPart[] {
  const destination = auditDestinationOf(context.log);
  if (!destination) return [];
  const push = new AuditHeadPush(context.broker, destination, context.log);
  // The file witness has nothing to stop here: it closes after the shutdown checkpoint, which the logger writes at exit.
  if (options.witnessFile) new CheckpointWitness(options.witnessFile, destination, context.log);
  return [{ stop: async () => push.stop() }];
}
