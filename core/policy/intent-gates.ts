import type { IntentBody, RejectionReason } from '../wire/intent';
import type { Capability, CertifiedPolicy } from '../wire/policy';
import { domainAllowed } from './egress-rules';

export const DEFAULT_STALENESS_MS = 5 * 60_000;
export const DEFAULT_CLOCK_SKEW_MS = 30_000;
export const HOUR_MS = 60 * 60_000;

/** What the gates read; the caller gathers it (agent: its stores; broker: its own records). */
export interface GateInputs {
  now: number;
  /** The DID of the agent the intent must be addressed to. */
  agent: string;
  /** The policy of the current certificate: never an unsigned message. */
  policy: CertifiedPolicy;
  stalenessMs: number;
  clockSkewMs: number;
  /** Whether this intent id was already processed (agent only; the broker mints fresh ids). */
  alreadySeen: (id: string) => boolean;
  tokensUsedToday: number;
  /** Executed requests in the rolling hour before `now`. */
  requestsInLastHour: number;
  /** The delegation gate (delegation-gate.ts), run in its place in the order. */
  delegation: () => GateVerdict;
  /**
   * Tools flagged in the certificate need a reviewer. The agent pauses for one
   * (so this gate passes there); the broker's pre-check has nothing to wait for.
   */
  approvals: 'pause' | 'refuse';
}

export type GateVerdict = { ok: true } | { ok: false; reason: RejectionReason; message: string };

const refuse = (reason: RejectionReason, message: string): GateVerdict => ({ ok: false, reason, message });

/**
 * The decision order of architecture.md, after the broker's signature has
 * been verified and the body parsed: addressed to me → fresh → never seen →
 * capability in the certificate → policy not expired → daily token budget →
 * hourly request rate → user delegation → destination (http_fetch) → tool approval. One function, so the
 * broker's pre-check and the agent cannot drift.
 * Comparisons are written so that a NaN anywhere refuses instead of passing.
 */
export function checkIntentGates(intent: IntentBody, g: GateInputs): GateVerdict {
  if (intent.agent !== g.agent) return refuse('wrong-agent', `intent is addressed to ${intent.agent}`);
  if (!(intent.issuedAt <= g.now + g.clockSkewMs)) return refuse('from-future', 'intent was issued in the future (clock skew too large)');
  if (!(g.now - intent.issuedAt <= g.stalenessMs + g.clockSkewMs)) {
    return refuse('stale', `intent was issued ${Math.round((g.now - intent.issuedAt) / 1000)} s ago; the window is ${g.stalenessMs / 1000} s`);
  }
  if (!(intent.expiresAt + g.clockSkewMs >= g.now)) return refuse('expired', 'intent has expired');
  if (g.alreadySeen(intent.id)) return refuse('replay', `intent ${intent.id} was already processed`);
  return checkPolicyGates(intent, g);
}

/**
 * The gates that depend on the current certificate, budgets, rate and
 * delegation rather than on the intent's own freshness. An agent runs them
 * again after an approval pause: the policy, the revocation list or the rate
 * may have changed while the reviewer decided.
 */
export function checkPolicyGates(intent: IntentBody, g: Omit<GateInputs, 'alreadySeen' | 'stalenessMs'>): GateVerdict {
  if (g.policy.status !== 'approved') return refuse('not-approved', `agent registration is ${g.policy.status}`);
  if (!g.policy.capabilities.includes(intent.capability)) {
    return refuse('capability-not-granted', `capability ${intent.capability} is not in the certificate`);
  }
  if (!(g.policy.policyExpiresAt > g.now)) return refuse('policy-expired', 'the certified policy has expired');
  if (!(g.tokensUsedToday < g.policy.maxTokensPerDay)) {
    return refuse('token-budget-exhausted', `daily token budget of ${g.policy.maxTokensPerDay} is used up`);
  }
  if (!(g.requestsInLastHour < g.policy.maxRequestsPerHour)) {
    return refuse('rate-limited', `${g.requestsInLastHour} requests in the last hour; the limit is ${g.policy.maxRequestsPerHour}`);
  }
  const delegation = g.delegation();
  if (!delegation.ok) return delegation;
  // Before a reviewer is asked: nobody is asked to approve a fetch the certificate refuses anyway.
  const destination = checkDestination(intent, g.policy);
  if (!destination.ok) return destination;
  if (g.approvals === 'refuse' && g.policy.approvalRequired.includes(intent.capability)) {
    return refuse('approval-required', `${intent.capability} needs a reviewer's approval`);
  }
  return { ok: true };
}

/**
 * An http_fetch reaches only a host the certified policy's allowedDomains name (egress-rules.ts, the rule the
 * agent's http_fetch and egress proxy apply too). Params without a URL string are left to the params check that
 * follows the gates (bad-params); an llm_task step carries the task's params, and the agent's http_fetch checks
 * the URL the model chose. A URL the WHATWG parser refuses names no host, and no host is allowed.
 */
export function checkDestination(intent: Pick<IntentBody, 'capability' | 'params'>, policy: CertifiedPolicy): GateVerdict {
  if (intent.capability !== 'http_fetch') return { ok: true };
  const url = intent.params.url;
  if (typeof url !== 'string') return { ok: true };
  const host = URL.canParse(url) ? new URL(url).hostname : '';
  if (domainAllowed(host, policy.allowedDomains)) return { ok: true };
  const allowed = policy.allowedDomains.length ? `allowed: ${policy.allowedDomains.join(', ')}` : 'the policy allows no network';
  return refuse('destination-refused', `${host || 'that URL'} is not in the agent's allowed domains (${allowed})`.slice(0, 1024));
}

/**
 * The gates each step of a running llm_task passes: before every model call
 * (as `llm_task`) and for every tool call the model makes (as that tool), on
 * the certificate, budget, delegation and revocations in force at that step.
 * Each tool call the model makes is a request like a direct intent's, so it
 * meets the hourly rate too (review finding 10: one task ran 320 commands
 * under a limit of 2 an hour); the model calls themselves are budgeted in
 * tokens, and the task was counted once when it started.
 */
export function checkTaskStepGates(
  task: IntentBody,
  capability: Capability,
  g: Omit<GateInputs, 'alreadySeen' | 'stalenessMs' | 'delegation'> & {
    /** Given the step, so the user's delegation must cover the tool the model calls, not only llm_task. */
    delegation: (step: IntentBody) => GateVerdict;
  },
): GateVerdict {
  const step: IntentBody = { ...task, capability };
  const requestsInLastHour = capability === 'llm_task' ? 0 : g.requestsInLastHour;
  return checkPolicyGates(step, { ...g, requestsInLastHour, delegation: () => g.delegation(step) });
}
