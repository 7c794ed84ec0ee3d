import { checkCallRules, decideCall, type HostFacts, type RuleDecision } from '../../core/policy/rules';
import type { GateVerdict } from '../../core/policy/intent-gates';
import type { CertifiedPolicy } from '../../core/wire/policy';
import type { IntentCall } from '../../core/wire/task';
import type { Quorum } from '../approval-waiter';

type RulesOf = Pick<CertifiedPolicy, 'rules' | 'approvalRequired'>;

/**
 * Whether the policy has rules for this call's capability, so that what the call reaches on this host
 * (host-facts.ts) can change the decision. Without them nothing is read and nothing waits: a certificate from
 * before rules existed decides exactly as it did (approvalRequired), in the same turn.
 */
export const rulesSpeakFor = (policy: RulesOf, call: IntentCall): boolean => policy.rules?.[call.capability] !== undefined;

/**
 * What the approval request adds for the reviewers' panel and the broker: how many distinct approvals, whether the
 * dispatching user may give one, which rule asked. Nothing for an ask that comes from approvalRequired alone, so
 * an old certificate's request is the request it always was (one reviewer, never the requester).
 */
export function quorumOf(decision: RuleDecision, modelCall: boolean): Quorum {
  if (decision.source.kind === 'approvalRequired') return {};
  // The user typed a direct intent's params themselves: reviewing them would be approving their own request.
  return { reviewers: decision.reviewers, selfReview: modelCall && decision.selfReview, rule: decision.description.slice(0, 512) };
}

/**
 * After the reviewers' wait, on the policy in force now: the call runs only if that policy would let it run with
 * the approvals it has. A deny added meanwhile refuses it; an ask that now needs more distinct reviewers than
 * approved (the requester counting only where the new rule lets them review a model's call) refuses it too,
 * rather than running on a quorum the policy no longer accepts. Synchronous, so the caller can check the rate and
 * record the execution in the same turn; `facts` are read fresh by the caller after the wait.
 */
export function recheckAfterApproval(
  policy: RulesOf,
  call: IntentCall,
  facts: HostFacts,
  approval: { reviewers: readonly string[]; requester: string; modelCall: boolean },
): GateVerdict {
  const decision = decideCall(policy, call, approval.modelCall ? 'model' : 'person', facts);
  const denied = checkCallRules(decision);
  if (!denied.ok) return denied;
  if (decision.effect !== 'ask') return { ok: true };
  const selfCounts = approval.modelCall && decision.selfReview;
  const counted = approval.reviewers.filter((r) => selfCounts || r !== approval.requester).length;
  if (counted >= decision.reviewers) return { ok: true };
  return {
    ok: false,
    reason: 'approval-required',
    message: `the policy now requires ${plural(decision.reviewers, 'reviewer')} (${decision.description}); this call has ${plural(counted, 'approval')}; dispatch again`.slice(0, 1024),
  };
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
