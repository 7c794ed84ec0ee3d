import { z } from 'zod';
import { Bytes, Did, Envelope, EpochMs, IntentId } from './common';
import { Capability } from './policy';
import { MAX_REVIEWERS } from './policy-rules';

/**
 * An agent paused on a tool that needs approval (ctx vaultysclaw/approval-request/v1),
 * with the full context a reviewer needs to decide.
 */
export const ApprovalRequestBody = z.strictObject({
  requestId: IntentId,
  intentId: IntentId,
  agent: Did,
  user: Did,
  capability: Capability,
  params: z.record(z.string(), z.unknown()),
  /** The working directory on the agent host, absolute. */
  cwd: z.string().max(4096),
  requestedAt: EpochMs,
  expiresAt: EpochMs,
  /**
   * Distinct reviewers the matching rule requires (policy-rules.ts); absent (agents before 0.4.0): one. The agent
   * runs the call once this many distinct approvals, each countersigned, have come; any one rejection ends it.
   */
  reviewers: z.number().int().min(1).max(MAX_REVIEWERS).optional(),
  /**
   * The call was chosen by a model (a tool call inside an llm_task) and its rule says selfReview "model-calls":
   * the user who dispatched the task may be one of the reviewers. The broker allows that only for a call of an
   * llm_task intent, whatever this says; never for an intent whose params the user typed.
   */
  selfReview: z.boolean().optional(),
  /** Which rule asked, in words ("run_command rule 2: ask git push *"), for the reviewer's panel. */
  rule: z.string().max(512).optional(),
});
export type ApprovalRequestBody = z.infer<typeof ApprovalRequestBody>;

/** Signed by the reviewer's own id (ctx vaultysclaw/approval-decision/v1): who decided, and what. */
export const ApprovalDecisionBody = z.strictObject({
  requestId: IntentId,
  intentId: IntentId,
  agent: Did,
  decision: z.enum(['approve', 'reject']),
  reason: z.string().max(1000).nullable(),
  reviewer: Did,
  decidedAt: EpochMs,
});
export type ApprovalDecisionBody = z.infer<typeof ApprovalDecisionBody>;

/**
 * The broker's countersignature (ctx vaultysclaw/approval-countersign/v1):
 * it checked the reviewer's role and that they are not the requester, and
 * binds that to the exact decision bytes.
 */
export const ApprovalCountersignBody = z.strictObject({
  requestId: IntentId,
  reviewer: Did,
  decisionSha256: z.string().regex(/^[0-9a-f]{64}$/),
  countersignedAt: EpochMs,
});
export type ApprovalCountersignBody = z.infer<typeof ApprovalCountersignBody>;

/** What travels from the broker to the agent. */
export const ApprovalDecisionBundle = z.strictObject({
  decision: Envelope,
  /** The reviewer's 77-byte VaultysId, so the agent can check the decision signature offline. */
  reviewerId: Bytes,
  countersignature: Envelope,
});
export type ApprovalDecisionBundle = z.infer<typeof ApprovalDecisionBundle>;
