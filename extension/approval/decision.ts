import { seal, type SecretIdentity } from '../../core/identity';
import type { ApprovalView } from '../../core/rpc/views';
import { ApprovalDecisionBody } from '../../core/wire/approval';

/**
 * The reviewer's decision, signed here with the reviewer's own key (never by
 * the broker, which only checks and countersigns it): what was decided, on
 * which request, by whom, and when.
 */
export function sealDecision(
  reviewer: SecretIdentity,
  approval: Pick<ApprovalView, 'requestId' | 'intentId' | 'agent'>,
  decision: 'approve' | 'reject',
  reason: string | null,
  now: number = Date.now(),
): { payload: string; signature: string; body: ApprovalDecisionBody } {
  const body = ApprovalDecisionBody.parse({
    requestId: approval.requestId,
    intentId: approval.intentId,
    agent: approval.agent,
    decision,
    reason: reason?.trim() ? reason.trim() : null,
    reviewer: reviewer.did,
    decidedAt: now,
  });
  const envelope = seal(reviewer, 'vaultysclaw/approval-decision/v1', body);
  return { payload: Buffer.from(envelope.payload).toString('base64'), signature: Buffer.from(envelope.signature).toString('base64'), body };
}
