import { Methods, type ParamsOf } from '../../core/rpc/methods';
import { ADMINS, DISPATCHERS, type Role } from '../../core/rpc/roles';
import type { PolicyTestResult } from '../../core/rpc/views';
import type { CertifiedPolicy } from '../../core/wire/policy';
import type { IntentCall } from '../../core/wire/task';
import type { RuleDecision } from '../../core/policy/rules';
import { forbidden, notFound } from '../rpc/rpc-failure';
import type { Evaluation, IntentRouter } from './intent-router';

/** What the dry run works with. */
export interface PolicyTestContext {
  router: Pick<IntentRouter, 'evaluate'>;
  users: { roleOf(did: string): Promise<Role | undefined>; idOf(did: string): Promise<string | undefined> };
}

const refused = (gate: string, message: string, reason: PolicyTestResult['reason'] = null, decision?: RuleDecision): PolicyTestResult => ({
  verdict: 'refused',
  reason,
  gate,
  message: message.slice(0, 4096),
  rule: decision ? ruleOf(decision) : null,
  reviewers: 0,
  selfReview: false,
  hostChecks: [],
});

/**
 * The dry run (policy/test): which gate or rule would decide this call for this user, read from the very evaluation
 * intents/dispatch makes (IntentRouter.evaluate), with nothing signed, minted, recorded or sent. Admins may ask as
 * another user; anyone else only as themselves.
 */
export async function testPolicy(c: PolicyTestContext, caller: { did: string; role: Role }, p: ParamsOf<'policyTest'>): Promise<PolicyTestResult> {
  let subject = caller;
  if (p.as !== undefined && p.as !== caller.did) {
    if (!ADMINS.includes(caller.role)) throw forbidden('only an admin may test the policy as another user');
    // Asked whether the user is active first: the role cache keeps only users that exist.
    const role = (await c.users.idOf(p.as)) === undefined ? undefined : await c.users.roleOf(p.as);
    if (!role) throw notFound(`user ${p.as}`);
    subject = { did: p.as, role };
  }
  // What RBAC would answer the real dispatch, before any gate.
  if (!DISPATCHERS.includes(subject.role)) return refused('role', `role ${subject.role} may not call ${Methods.intentsDispatch.method}`);
  return resultOf(await c.router.evaluate(subject, { agent: p.agent, capability: p.capability, params: p.params, via: p.via }, false));
}

function resultOf({ outcome, policy, call }: Evaluation): PolicyTestResult {
  if (!outcome.ok) return refused(outcome.gate, outcome.message, outcome.reason, outcome.decision);
  const { decision } = outcome;
  const ask = decision.effect === 'ask';
  return {
    verdict: ask ? 'needs-approval' : 'allowed',
    reason: null,
    gate: 'rules',
    message: ask
      ? `needs ${decision.reviewers} distinct approval${decision.reviewers === 1 ? '' : 's'}${decision.selfReview ? " (the dispatching user may approve a call their model chose: a task's tool calls, or an intent an editor AI or MCP client sent)" : ''}: ${decision.description}`
      : `allowed: ${decision.description}`,
    rule: ruleOf(decision),
    reviewers: ask ? decision.reviewers : 0,
    selfReview: ask && decision.selfReview,
    hostChecks: call ? hostChecks(policy, call) : [],
  };
}

/** The rule (or default) that decided, as the answer names it. */
function ruleOf({ source, effect, description }: RuleDecision): NonNullable<PolicyTestResult['rule']> {
  return { source: source.kind, index: source.kind === 'rule' ? source.index : null, effect, description: description.slice(0, 1024) };
}

/** What only the agent's host can check, and may decide more strictly than the lexical match above. */
function hostChecks(policy: CertifiedPolicy, call: IntentCall): string[] {
  const rules = policy.rules;
  if (!rules) return [];
  switch (call.capability) {
    case 'run_command':
      if (!rules.run_command || call.params.command.includes('/')) return [];
      return [`the agent resolves "${call.params.command}" on its sandbox's PATH; a rule naming that absolute path may decide otherwise`.slice(0, 512)];
    case 'read_file':
    case 'list_files':
    case 'write_file':
      if (!rules[call.capability]) return [];
      return [`the agent resolves symlinks along "${call.params.path}"; a rule matching the real path may be stricter`.slice(0, 512)];
    case 'llm_task':
      return Object.keys(rules).some((k) => k !== 'llm_task') ? ["each tool call the task's model makes is decided by the agent against the rules of that tool"] : [];
    default:
      return [];
  }
}
