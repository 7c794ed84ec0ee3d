import { z } from 'zod';
import { Did, EpochMs, IntentId } from './common';

/** The signature context of a cancel: an intent, a result or a revocation signature can never pass for one. */
export const INTENT_CANCEL_CONTEXT = 'vaultysclaw/intent-cancel/v1';

/**
 * The broker's signed order to stop one intent (ctx vaultysclaw/intent-cancel/v1). Bound to the intent and to
 * its agent, so a cancel of one intent cannot stop another nor be replayed to another agent; `at` lets the agent
 * refuse one captured long ago.
 */
export const IntentCancelBody = z.strictObject({
  intentId: IntentId,
  agent: Did,
  /** The user who cancelled: the intent's requester or an admin. */
  cancelledBy: Did,
  at: EpochMs,
});
export type IntentCancelBody = z.infer<typeof IntentCancelBody>;
