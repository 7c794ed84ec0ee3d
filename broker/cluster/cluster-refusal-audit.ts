import type pino from 'pino';
import type { AuditLine } from '../../core/audit/events';
import { BUDGETS } from '../../core/budgets';
import { audit } from '../audit/audit-log';
import { WindowedRefusalAudit } from '../audit/windowed-refusal-audit';

/**
 * The audit budget of what a node refuses from the cluster bus (the bus's own checks and the node's): whoever can
 * publish on it chooses the rate, so BUDGETS.clusterRefusalAuditLines lines in full per interval, the rest counted
 * into one cluster.refused-summary line.
 */
export function clusterRefusalAudit<L extends AuditLine>(log: pino.Logger, node: string, now: () => number, onTimerError: (err: unknown) => void): WindowedRefusalAudit<L> {
  const intervalMs = BUDGETS.refusalSummaryMs.limit;
  return new WindowedRefusalAudit<L>(log, {
    fullLines: BUDGETS.clusterRefusalAuditLines.limit,
    intervalMs,
    now,
    summarise: (suppressed, reasons) => audit(log).warn('cluster.refused-summary', { node, intervalMs, suppressed, reasons }, 'cluster bus refusals not written one by one'),
    onTimerError,
  });
}
