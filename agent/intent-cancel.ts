import { open, type SealedEnvelope, type VaultysId } from '../core/identity';
import { INTENT_CANCEL_CONTEXT, IntentCancelBody } from '../core/wire/intent-cancel';

/** Why the agent refuses a cancel frame; each one logged with its reason. */
export type CancelRefusal = 'bad-signature' | 'malformed' | 'wrong-context' | 'wrong-agent' | 'stale' | 'from-future';

export type CancelVerdict = { ok: true; cancel: IntentCancelBody } | { ok: false; reason: CancelRefusal; message: string };

/**
 * A cancel is obeyed only when the pinned broker signed it for this agent, recently: a stranger on the path (or a
 * compromised peer agent) must not be able to stop a user's work, and a cancel captured long ago must not be
 * replayed. The intent id in the signed body is the only intent it can stop.
 */
export function verifyIntentCancel(
  envelope: SealedEnvelope,
  at: { broker: VaultysId; agent: string; now: number; stalenessMs: number; clockSkewMs: number },
): CancelVerdict {
  const opened = open(at.broker, INTENT_CANCEL_CONTEXT, envelope);
  if (!opened.ok) return opened;
  const parsed = IntentCancelBody.safeParse(opened.body);
  if (!parsed.success) return { ok: false, reason: 'malformed', message: 'cancel does not match its schema' };
  const cancel = parsed.data;
  if (cancel.agent !== at.agent) return { ok: false, reason: 'wrong-agent', message: `cancel addressed to ${cancel.agent}` };
  if (cancel.at > at.now + at.clockSkewMs) return { ok: false, reason: 'from-future', message: 'cancel signed in the future' };
  if (cancel.at < at.now - at.stalenessMs - at.clockSkewMs) return { ok: false, reason: 'stale', message: 'cancel older than the staleness window' };
  return { ok: true, cancel };
}

/** The abort reason an intent's signal carries when it was cancelled: the tool, the task and the reviewer wait read it. */
export class IntentCancelled extends Error {
  override readonly name = 'IntentCancelled';
  constructor(readonly by: string) {
    super(`cancelled by ${by}`);
  }
}

/** Whether a signal was aborted by a cancel (rather than a timeout or a task's deadline). */
export function cancelledBy(signal: AbortSignal | undefined): IntentCancelled | undefined {
  return signal?.aborted && signal.reason instanceof IntentCancelled ? signal.reason : undefined;
}
