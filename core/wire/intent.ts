import { z } from 'zod';
import { Did, Envelope, EpochMs, IntentId } from './common';
import { IntentOrigin } from './intent-origin';
import { Capability } from './policy';
import { TokenUsageReport } from './task';

/**
 * The whole intent, as the broker signs it (ctx vaultysclaw/intent/v1):
 * every field, parameters and requesting user included (upstream-gaps 1).
 */
export const IntentBody = z.strictObject({
  id: IntentId,
  agent: Did,
  capability: Capability,
  params: z.record(z.string(), z.unknown()),
  user: Did,
  /** The broker-signed delegation certificate that authorises this user for this agent and capability. */
  delegation: Envelope,
  /** The revocation list version the broker issued this under: an agent holding an older list refuses. */
  revocationVersion: z.number().int().nonnegative(),
  issuedAt: EpochMs,
  expiresAt: EpochMs,
  /**
   * A model dispatched it (issue 18): rules with chosenBy "model" apply, selfReview "model-calls" lets the
   * requester approve it. Sent only to agents that read it (readsIntentOrigin); older ones get the intent without.
   */
  via: IntentOrigin.optional(),
});
export type IntentBody = z.infer<typeof IntentBody>;

/** Why an agent (or the broker, before sending) refuses an intent, one reason per gate. */
export const RejectionReason = z.enum([
  'bad-signature',
  'malformed',
  'wrong-agent',
  'stale',
  'from-future',
  'expired',
  'replay',
  'not-approved',
  'capability-not-granted',
  'policy-expired',
  'token-budget-exhausted',
  'rate-limited',
  'revocation-list-stale',
  'delegation-missing',
  'delegation-invalid',
  'delegation-wrong-user',
  'delegation-wrong-agent',
  'delegation-capability',
  'delegation-expired',
  'delegation-revoked',
  'approval-rejected',
  'approval-expired',
  'approval-required',
  'bad-params',
  'path-escape',
  /** The agent has no working command sandbox (bubblewrap missing, user namespaces off) and was not started --unconfined-commands. */
  'sandbox-unavailable',
  /** http_fetch or the egress proxy: the host is not in allowedDomains, or leads to loopback, link-local or the broker. */
  'destination-refused',
  /** A deny rule of the certified policy (or its capability's default deny) matched the call. */
  'rule-denied',
  'agent-offline',
  'agent-busy',
  // Why a running llm_task stopped, besides the gates it re-checks at each step.
  'task-step-limit',
  'task-time-limit',
  'model-unavailable',
  'model-malformed-response',
  /** The requester or an admin cancelled the intent (intents/cancel): the agent stopped its tool or dropped its wait. */
  'cancelled',
]);
export type RejectionReason = z.infer<typeof RejectionReason>;

export const IntentOutcome = z.enum(['succeeded', 'failed', 'rejected']);

/** The agent's signed answer (ctx vaultysclaw/result/v1), bound to the intent id and to the agent. */
export const ResultBody = z.strictObject({
  intentId: IntentId,
  agent: Did,
  outcome: IntentOutcome,
  reason: RejectionReason.nullable(),
  message: z.string().max(4096),
  output: z.record(z.string(), z.unknown()).nullable(),
  finishedAt: EpochMs,
  /** An llm_task's model tokens, per UTC day it ran on (at most two days, given MAX_TASK_TIME_MS). */
  usage: z.array(TokenUsageReport).max(2).optional(),
});
export type ResultBody = z.infer<typeof ResultBody>;

/** Which of a tool's outputs a progress text comes from; status is the agent's own word about the run. */
export const ProgressStream = z.enum(['stdout', 'stderr', 'status']);
export type ProgressStream = z.infer<typeof ProgressStream>;

/** Streamed while a tool runs (ctx vaultysclaw/progress/v1). */
export const ProgressBody = z.strictObject({
  intentId: IntentId,
  agent: Did,
  seq: z.number().int().nonnegative(),
  stream: ProgressStream,
  text: z.string().max(64 * 1024),
  at: EpochMs,
  /** Sent after each model response of an llm_task: the tokens it has used so far that day. */
  usage: TokenUsageReport.optional(),
});
export type ProgressBody = z.infer<typeof ProgressBody>;
