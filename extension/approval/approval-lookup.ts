import { rpcErrorReason } from '../../core/rpc/rpc-error';
import type { ApprovalView } from '../../core/rpc/views';
import type { BrokerSession } from '../connection/broker-session';
import type { LiveModel } from '../model/live-model';

/**
 * approvals/get for a panel whose request the model does not list (restored after a restart, or decided since):
 * the broker's view, noted in the model, or null when the broker holds no such request (its data was reset). Any
 * other failure is thrown, for the panel to say.
 */
export async function lookupApproval(session: Pick<BrokerSession, 'call'>, model: Pick<LiveModel, 'noteApproval'>, requestId: string): Promise<ApprovalView | null> {
  try {
    const view = await session.call('approvalsGet', { requestId });
    model.noteApproval(view);
    return view;
  } catch (err) {
    if (rpcErrorReason(err) === 'not-found') return null;
    throw err;
  }
}
