import { z } from 'zod';
import { BUDGETS } from '../budgets';
import { Did, EpochMs, IntentId } from '../wire/common';
import { ApprovalRequestBody } from '../wire/approval';
import { IntentOutcome, RejectionReason } from '../wire/intent';
import { IntentOrigin } from '../wire/intent-origin';
import { Capability, CertifiedPolicy, CommandLimits, Confinement, DomainPattern, RegistrationStatus } from '../wire/policy';
import { MAX_REVIEWERS, PolicyRules, RuleEffect } from '../wire/policy-rules';
import { Role } from './roles';

/** What an admin chooses when approving an agent or changing its policy. */
export const PolicyInput = z.strictObject({
  capabilities: z.array(Capability).max(16),
  approvalRequired: z.array(Capability).max(16).default([]),
  maxTokensPerDay: z.number().int().nonnegative().max(BUDGETS.tokensPerIntentDay.limit).default(100_000),
  maxRequestsPerHour: z.number().int().nonnegative().max(1e9).default(60),
  /** How long the policy holds from now; the agent refuses intents after that. */
  validForMs: z.number().int().positive().max(366 * 24 * 60 * 60_000).default(30 * 24 * 60 * 60_000),
  /** Hosts the agent's commands (through its egress proxy) and http_fetch may reach; omitted or empty: no network. */
  allowedDomains: z.array(DomainPattern).max(BUDGETS.allowedDomains.limit).default([]),
  /**
   * Limits per command. A field left out keeps the agent's current value when its policy changes (an admin who
   * changes a capability does not silently widen a limit set before), and is the widest (MAX_COMMAND_LIMITS) at approval.
   */
  commandLimits: CommandLimits.partial().default({}),
  /**
   * Allow / ask / deny rules (core/wire/policy-rules.ts), checked with their examples when set. Left out: the
   * agent's current rules stay when its policy changes (none at approval); null removes them.
   */
  rules: PolicyRules.nullable().optional(),
});
export type PolicyInput = z.input<typeof PolicyInput>;

export const AgentView = z.strictObject({
  did: Did,
  name: z.string(),
  status: RegistrationStatus,
  statusReason: z.string().nullable(),
  requested: z.array(z.string()),
  online: z.boolean(),
  policy: CertifiedPolicy.nullable(),
  /** How the agent said, in its last signed hello, it runs commands; null: an agent before 0.3.0 (or never seen), unknown. */
  confinement: Confinement.nullable(),
  usage: z.strictObject({ requestsLastHour: z.number().int(), tokensToday: z.number().int() }),
  firstSeen: EpochMs,
  lastSeen: EpochMs,
  /** The agent's public VaultysId, base64 (its DID is a hash of it): what a client checks the agent's signed results against, offline. */
  id: z.string().max(256).optional(),
  /** Set once an admin removed this revoked or rejected agent from the lists: clients drop its row. */
  removed: z.literal(true).optional(),
});
export type AgentView = z.infer<typeof AgentView>;

/** `cancelled`: its requester or an admin ended it (intents/cancel); the agent's signed answer may follow it, kept as a late result. */
export const IntentState = z.enum(['sent', 'running', 'succeeded', 'failed', 'rejected', 'lost-agent', 'cancelled']);
export type IntentState = z.infer<typeof IntentState>;
export const FINAL_INTENT_STATES: readonly IntentState[] = ['succeeded', 'failed', 'rejected', 'lost-agent', 'cancelled'];

export const IntentView = z.strictObject({
  id: IntentId,
  agent: Did,
  capability: Capability,
  params: z.record(z.string(), z.unknown()),
  user: Did,
  state: IntentState,
  outcome: IntentOutcome.nullable(),
  reason: RejectionReason.nullable(),
  /** Who refused: the broker before sending, or the agent. */
  rejectedBy: z.enum(['broker', 'agent']).nullable(),
  message: z.string().nullable(),
  output: z.record(z.string(), z.unknown()).nullable(),
  createdAt: EpochMs,
  updatedAt: EpochMs,
  /** Base64 of the signed intent and result envelopes, for anyone who wants to check them. */
  signedIntent: z.strictObject({ payload: z.string(), signature: z.string() }).nullable(),
  signedResult: z.strictObject({ payload: z.string(), signature: z.string() }).nullable(),
  /** Which model dispatched it (core/wire/intent-origin.ts); absent: a person did. */
  via: IntentOrigin.optional(),
});
export type IntentView = z.infer<typeof IntentView>;

/**
 * An intent as lists and notifications show it: no output, no signed
 * envelopes, and params with long strings cut (`paramsTruncated`). Outputs and
 * envelopes, which a compromised agent or a large write make megabytes, come
 * one intent at a time from intents/get.
 */
export const IntentSummary = IntentView.omit({ output: true, signedIntent: true, signedResult: true }).extend({ paramsTruncated: z.boolean() });
export type IntentSummary = z.infer<typeof IntentSummary>;

/** The parts of an intent's detail left out because they would take it past BUDGETS.intentDetailBytes. */
export const IntentPart = z.enum(['params', 'output', 'signedResult', 'signedIntent']);
export type IntentPart = z.infer<typeof IntentPart>;

/** One intent in full, bounded in bytes: what did not fit is named in `omitted` (params then shown as in a summary). */
export const IntentDetail = IntentView.extend({ omitted: z.array(IntentPart) });
export type IntentDetail = z.infer<typeof IntentDetail>;

export const UserView = z.strictObject({
  did: Did,
  name: z.string(),
  role: Role,
  /** Who last changed the role or removed the user (null: the role they joined with), so a demoted user learns by whom. */
  roleSetBy: Did.nullable(),
  invitedBy: Did.nullable(),
  removed: z.boolean(),
  createdAt: EpochMs,
  lastSeen: EpochMs,
});
export type UserView = z.infer<typeof UserView>;

export const InvitationView = z.strictObject({
  /** SHA-256 of the token, hex: names the invitation without revealing it. */
  id: z.string().regex(/^[0-9a-f]{64}$/),
  role: Role,
  createdBy: Did,
  createdAt: EpochMs,
  expiresAt: EpochMs,
  state: z.enum(['open', 'used', 'revoked', 'expired']),
  usedBy: Did.nullable(),
});
export type InvitationView = z.infer<typeof InvitationView>;

export const GrantView = z.strictObject({
  id: IntentId,
  user: Did,
  /** An agent DID, or "*" for every agent. */
  agent: z.string(),
  capabilities: z.array(Capability),
  issuedBy: Did,
  issuedAt: EpochMs,
  expiresAt: EpochMs,
  revoked: z.boolean(),
  certificate: z.strictObject({ payload: z.string(), signature: z.string() }),
});
export type GrantView = z.infer<typeof GrantView>;

/** The agent's signed request as the broker keeps it, with where its review stands. */
export const ApprovalView = ApprovalRequestBody.extend({
  state: z.enum(['pending', 'approved', 'rejected', 'expired']),
  decidedBy: Did.nullable(),
  reason: z.string().nullable(),
  decidedAt: EpochMs.nullable(),
  /** In a list, long strings of params are cut: the reviewer's panel reads the whole request from approvals/get. */
  paramsTruncated: z.boolean(),
  /** Distinct approvals the call needs (the request's `reviewers`, 1 when absent): the panel shows "1 of 2 approvals". */
  reviewersRequired: z.number().int().min(1).max(MAX_REVIEWERS),
  /** The approvals given so far, in order; the request stays pending until there are reviewersRequired of them. */
  approvals: z.array(z.strictObject({ reviewer: Did, decidedAt: EpochMs, selfReview: z.boolean() })).max(MAX_REVIEWERS),
  /** The call was chosen by a model inside an llm_task, not typed by the user who dispatched it. */
  modelCall: z.boolean(),
});
export type ApprovalView = z.infer<typeof ApprovalView>;

/**
 * What the dry run (policy/test, `broker policy test`, VaultysClaw: Test Policy) answers: the same gates and rules
 * as a real dispatch, without signing or sending anything.
 */
export const PolicyTestResult = z.strictObject({
  verdict: z.enum(['allowed', 'needs-approval', 'refused']),
  /** The refusal's reason, as a real dispatch would record it; null unless refused. */
  reason: RejectionReason.nullable(),
  /** Which gate decided, in words: "delegation", "rules", "params", "agent online", ... */
  gate: z.string().max(64),
  message: z.string().max(4096),
  /** The rule (or default) that decided, when the call got as far as the rules. */
  rule: z
    .strictObject({
      source: z.enum(['rule', 'default', 'approvalRequired']),
      index: z.number().int().nonnegative().nullable(),
      effect: RuleEffect,
      description: z.string().max(1024),
    })
    .nullable(),
  /** Distinct approvals a needs-approval call waits for; 0 otherwise. */
  reviewers: z.number().int().min(0).max(MAX_REVIEWERS),
  /** The dispatching user may be one of them (selfReview "model-calls", calls a task's model makes). */
  selfReview: z.boolean(),
  /** What only the agent host can check and may make stricter: a symlinked path, the resolved executable. */
  hostChecks: z.array(z.string().max(512)).max(8),
});
export type PolicyTestResult = z.infer<typeof PolicyTestResult>;
