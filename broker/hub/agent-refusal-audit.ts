import type pino from 'pino';
import { BUDGETS } from '../../core/budgets';
import type { AuditLine } from '../../core/audit/events';
import { audit } from '../audit/audit-log';
import { WindowedRefusalAudit } from '../audit/windowed-refusal-audit';

/**
 * What the broker refuses of an authenticated agent's validly signed frames while it keeps the connection open:
 * an approval request, a result or a progress for an intent it does not hold, a token report past its budget.
 */
export type AgentFrameRefusal = AuditLine<'approval.refused' | 'result.refused' | 'progress.refused' | 'tokens.refused' | 'tokens.clamped'>;

/**
 * The audit budget of one agent connection's refused frames. An approved agent signs what it sends, so each such
 * frame is attributable and answered with an error; but a compromised one can send them at the hub's frame rate, and
 * a line each would fill the disk under the hash-chained log, which fails closed and stops the broker for everyone.
 * So the first BUDGETS.agentRefusalAuditLines of each interval are written in full, the rest are counted into one
 * `agent.refused-summary` line for this agent at the end of the interval or when the connection closes.
 */
export class AgentRefusalAudit extends WindowedRefusalAudit<AgentFrameRefusal> {
  constructor(log: pino.Logger, did: () => string | undefined, now: () => number, intervalMs: number = BUDGETS.refusalSummaryMs.limit) {
    super(log, {
      fullLines: BUDGETS.agentRefusalAuditLines.limit,
      intervalMs,
      now,
      summarise: (suppressed, reasons) =>
        audit(log).warn('agent.refused-summary', { did: did(), intervalMs, suppressed, reasons }, "an agent's refused frames not written one by one"),
      onTimerError: (err) => audit(log).error('hub.internal-error', { did: did(), what: 'refusal summary', err: (err as Error).message }, 'could not write the refusal summary'),
    });
  }
}
