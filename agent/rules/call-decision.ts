import { checkCallRules, decideCall, type RuleDecision } from '../../core/policy/rules';
import type { GateVerdict } from '../../core/policy/intent-gates';
import type { Quorum } from '../approval-waiter';
import type { CertifiedPolicy } from '../../core/wire/policy';
import type { IntentCall } from '../../core/wire/task';
import type { WorkspaceSandbox } from '../tools/sandbox';
import { hostFacts } from './host-facts';

type RulesOf = Pick<CertifiedPolicy, 'rules' | 'approvalRequired'>;

/**
 * The rules' decision for one call on this host: the lexical match and what the call really reaches here
 * (host-facts.ts), the strictest of them. A capability without rules reads nothing from the disk: a certificate
 * from before rules existed decides exactly as it did (approvalRequired), with nothing new to fail.
 */
export async function decideOnHost(policy: RulesOf, call: IntentCall, sandbox: WorkspaceSandbox): Promise<RuleDecision> {
  const ruled = policy.rules?.[call.capability] !== undefined;
  return decideCall(policy, call, ruled ? await hostFacts(call, sandbox) : undefined);
}

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
 * rather than running on a quorum the policy no longer accepts.
 */
export async function recheckAfterApproval(
  policy: RulesOf,
  call: IntentCall,
  sandbox: WorkspaceSandbox,
  approval: { reviewers: readonly string[]; requester: string; modelCall: boolean },
): Promise<GateVerdict> {
  const decision = await decideOnHost(policy, call, sandbox);
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
