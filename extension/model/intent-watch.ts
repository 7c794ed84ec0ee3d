import { FINAL_INTENT_STATES, type ApprovalView, type IntentSummary } from '../../core/rpc/views';
import { whoMustAct } from './activity-tree';
import type { BrokerSession } from '../connection/broker-session';
import type { LiveModel } from './live-model';
import { localOperatorNote } from './local-operator';

/** What a dispatched intent's progress notification says, and the approval it may offer to open. */
export interface DispatchStatus {
  message: string;
  /** The pending request its tool call waits on (Open Approval opens it); none when nothing waits for a reviewer. */
  waitingFor?: ApprovalView;
  /** Said once beside the message when it names the local operator. */
  note?: string;
}

/** The status of intent `id` as the live model knows it: waiting for a reviewer (who), or its state. */
export function dispatchStatus(model: Pick<LiveModel, 'intent' | 'pendingApprovals' | 'users' | 'agent' | 'user'>, id: string): DispatchStatus {
  const intent = model.intent(id);
  const short = id.slice(0, 8);
  const waitingFor = intent && FINAL_INTENT_STATES.includes(intent.state) ? undefined : model.pendingApprovals().find((a) => a.intentId === id);
  if (waitingFor) {
    const who = whoMustAct(waitingFor, model.users(), model);
    const note = localOperatorNote(who);
    return { message: `intent ${short} waits for a reviewer: ${who}`, waitingFor, ...(note ? { note } : {}) };
  }
  if (intent && FINAL_INTENT_STATES.includes(intent.state)) return { message: `intent ${short} ${intent.state}` };
  return { message: `intent ${short} ${intent?.state ?? 'sent'}; waiting for the agent's signed result…` };
}

/**
 * Follows a dispatched intent in the live model (notifications only, no polling) and reports each new status:
 * the progress notification shows the message and, while a reviewer must act, offers Open Approval.
 */
export function watchDispatch(model: LiveModel, id: string, report: (status: DispatchStatus) => void): { dispose(): void } {
  let last = '';
  const update = () => {
    const status = dispatchStatus(model, id);
    const key = `${status.message}|${status.waitingFor?.requestId ?? ''}`;
    if (key === last) return;
    last = key;
    report(status);
  };
  update();
  return model.onDidChange((parts) => {
    if (parts.has('intents') || parts.has('approvals') || parts.has('users')) update();
  });
}

/** A real cancel of the intent (intents/cancel), folded into the model at once: the broker ends it cancelled and tells its agent. */
export async function cancelIntent(session: Pick<BrokerSession, 'call'>, model: Pick<LiveModel, 'noteIntent'>, id: string): Promise<IntentSummary> {
  const cancelled = await session.call('intentsCancel', { id });
  model.noteIntent(cancelled);
  return cancelled;
}
