import { seal, type SecretIdentity } from '../../core/identity';
import type { ApprovalView } from '../../core/rpc/views';
import { ApprovalDecisionBody } from '../../core/wire/approval';
import type { BrokerSession } from '../connection/broker-session';
import type { LiveModel } from '../model/live-model';

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

/**
 * Signs a decision with the session's own key and sends it: the one way every place that decides (the panel, the
 * diff editor's title bar, an Approvals row) reaches approvals/decide. Resolves with the broker's view, noted in the model.
 */
export async function sendDecision(
  session: Pick<BrokerSession, 'identity' | 'call'>,
  model: Pick<LiveModel, 'noteApproval'>,
  approval: ApprovalView,
  decision: 'approve' | 'reject',
  reason: string,
): Promise<ApprovalView> {
  const sealed = sealDecision(session.identity, approval, decision, reason);
  const view = await session.call('approvalsDecide', { payload: sealed.payload, signature: sealed.signature });
  model.noteApproval(view);
  return view;
}
